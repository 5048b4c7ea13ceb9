using Pulsarish.Bookie.Server;

namespace Pulsarish.Bookie.Tests.Server;

[TestFixture]
public sealed class StoredEntryTests
{
    [Test]
    public void EncodedEntryDecodesToItsLacDigestAndPayload()
    {
        byte[] payload = [9, 8, 7, 6];
        var buffer = new byte[StoredEntry.EncodedLength(payload.Length)];

        int written = StoredEntry.Encode(0x0102030405060708, 0xCAFEBABE, payload, buffer);

        Assert.That(written, Is.EqualTo(12 + payload.Length));
        Assert.That(buffer[..8], Is.EqualTo(new byte[] { 1, 2, 3, 4, 5, 6, 7, 8 }), "LAC is big-endian");
        Assert.That(StoredEntry.TryDecode(buffer, out var entry), Is.True);
        Assert.That(entry.Lac, Is.EqualTo(0x0102030405060708));
        Assert.That(entry.Digest, Is.EqualTo(0xCAFEBABE));
        Assert.That(entry.Payload.ToArray(), Is.EqualTo(payload));
    }

    [Test]
    public void BytesShorterThanTheHeaderDoNotDecode()
    {
        Assert.That(StoredEntry.TryDecode(new byte[StoredEntry.HeaderBytes - 1], out _), Is.False);
    }
}
