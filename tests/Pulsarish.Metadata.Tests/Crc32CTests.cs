using System.Text;
using Pulsarish.Protocol.Checksums;

namespace Pulsarish.Metadata.Tests;

public class Crc32CTests
{
    [Test]
    public void MatchesTheStandardCheckValue()
    {
        // The CRC-32C check value of "123456789" (RFC 3720 / iSCSI).
        Assert.That(Crc32C.Compute(Encoding.ASCII.GetBytes("123456789")), Is.EqualTo(0xE3069283u));
    }

    [Test]
    public void IncrementalUpdateEqualsOneShot()
    {
        var rnd = new Random(7);
        var data = new byte[1000];
        rnd.NextBytes(data);
        for (int split = 0; split <= data.Length; split += 37)
        {
            uint crc = Crc32C.Update(~0u, data.AsSpan(0, split));
            crc = ~Crc32C.Update(crc, data.AsSpan(split));
            Assert.That(crc, Is.EqualTo(Crc32C.Compute(data)), $"split {split}");
        }
    }

    [Test]
    public void EntryDigestCoversIdsLacAndPayload()
    {
        var payload = Encoding.UTF8.GetBytes("hello");
        uint d = EntryDigest.Compute(1, 2, 3, payload);
        Assert.That(EntryDigest.Verify(1, 2, 3, payload, d), Is.True);
        Assert.That(EntryDigest.Verify(1, 2, 4, payload, d), Is.False);
        Assert.That(EntryDigest.Verify(2, 2, 3, payload, d), Is.False);
        payload[0] ^= 1;
        Assert.That(EntryDigest.Verify(1, 2, 3, payload, d), Is.False);
    }
}
