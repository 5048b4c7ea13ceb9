using System.Text;
using Google.Protobuf;
using Pulsarish.Client.Compression;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Client.Tests;

/// <summary>The client-side codecs and the batch format around them (docs/protocol.md §7.5), without a broker.</summary>
[TestFixture]
public sealed class CompressionCodecTests
{
    private static readonly CompressionType[] Codecs = [CompressionType.LZ4, CompressionType.ZSTD, CompressionType.Snappy, CompressionType.Zlib];

    [TestCaseSource(nameof(Codecs))]
    public void CodecRoundTripsEmptySmallLargeAndIncompressibleData(CompressionType type)
    {
        var codec = CompressionCodec.Create(type)!;
        var random = new Random(7);
        byte[] noise = new byte[300_000];
        random.NextBytes(noise);
        byte[] text = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("{\"user\":\"alice\",\"action\":\"login\"}", 5000)));
        foreach (byte[] source in new[] { [42], text, noise, new byte[1 << 20] })
        {
            byte[] packed = new byte[codec.MaxCompressedLength(source.Length)];
            int length = codec.Compress(source, packed);
            Assert.That(length, Is.GreaterThan(0).And.LessThanOrEqualTo(packed.Length));
            byte[] back = new byte[source.Length];
            codec.Decompress(packed.AsMemory(0, length), back);
            Assert.That(back, Is.EqualTo(source), $"{type}, {source.Length} bytes");
        }

        int textLength = codec.Compress(text, new byte[codec.MaxCompressedLength(text.Length)]);
        Assert.That(textLength, Is.LessThan(text.Length / 4), $"{type} compresses repetitive text");
    }

    [TestCaseSource(nameof(Codecs))]
    public void CorruptOrWronglySizedDataIsInvalidData(CompressionType type)
    {
        var codec = CompressionCodec.Create(type)!;
        byte[] source = Encoding.UTF8.GetBytes(string.Concat(Enumerable.Repeat("pulsarish batch ", 400)));
        byte[] packed = new byte[codec.MaxCompressedLength(source.Length)];
        int length = codec.Compress(source, packed);

        Assert.Throws<InvalidDataException>(() => codec.Decompress(packed.AsMemory(0, length), new byte[source.Length - 1]),
            "a header size below the real one");
        Assert.Throws<InvalidDataException>(() => codec.Decompress(packed.AsMemory(0, length), new byte[source.Length + 10]),
            "a header size above the real one");
        byte[] garbage = Enumerable.Range(0, 64).Select(i => (byte)(0xF0 ^ i * 37)).ToArray();
        Assert.Throws<InvalidDataException>(() => codec.Decompress(garbage, new byte[source.Length]), "garbage");
        Assert.Throws<InvalidDataException>(() => codec.Decompress(packed.AsMemory(0, length / 2), new byte[source.Length]), "truncated");
    }

    [TestCaseSource(nameof(Codecs))]
    public void BatchKeepsMessagesKeysAndPropertiesAndNamesTheFirstKey(CompressionType type)
    {
        var messages = Enumerable.Range(0, 20).Select(i =>
        {
            var m = new ProducerMessage
            {
                Payload = ByteString.CopyFromUtf8($"payload-{i}-" + new string('x', 500)),
                Key = $"key-{i % 3}", HasKey = i % 5 != 4, EventTimeMillis = 1_000 + i,
            };
            m.Properties.Add(new KeyValue { Key = "index", Value = i.ToString() });
            return m;
        }).ToList();
        var compressed = BatchCompression.Compress(CompressionCodec.Create(type)!, messages);
        Assert.That(compressed.MessageCount, Is.EqualTo(20));
        Assert.That(compressed.HasKey, Is.True);
        Assert.That(compressed.Key, Is.EqualTo("key-0"));
        Assert.That(compressed.Data.Length, Is.LessThan(compressed.UncompressedSize / 3));

        var back = BatchCompression.Decompress(compressed, new());
        Assert.That(back.Messages, Is.EqualTo(messages));
    }

    [Test]
    public void HeaderThatDisagreesWithTheDataIsCorruptMessage()
    {
        var messages = new List<ProducerMessage> { new() { Payload = ByteString.CopyFromUtf8("a") }, new() { Payload = ByteString.CopyFromUtf8("b") } };
        var good = BatchCompression.Compress(CompressionCodec.Create(CompressionType.LZ4)!, messages);
        var wrongCount = good.Clone();
        wrongCount.MessageCount = 3;
        var hugeSize = good.Clone();
        hugeSize.UncompressedSize = int.MaxValue;
        var legacyCodec = good.Clone();
        legacyCodec.Codec = Protocol.Broker.CompressionType.Gzip;
        var flipped = good.Clone();
        byte[] data = good.Data.ToByteArray();
        data[0] ^= 0xFF;
        flipped.Data = ByteString.CopyFrom(data);
        foreach (var bad in new[] { wrongCount, hugeSize, legacyCodec })
        {
            var error = Assert.Throws<PulsarishClientException>(() => BatchCompression.Decompress(bad, new()));
            Assert.That(error!.ErrorReason, Is.EqualTo(ErrorReason.CorruptMessage), error.Message);
            Assert.That(error.Message, Does.Contain("compressed batch"));
        }

        // A flipped byte of LZ4 data may still decode (LZ4 has no checksum); it must never decode silently wrong in size.
        try
        {
            var back = BatchCompression.Decompress(flipped, new());
            Assert.That(back.Messages, Has.Count.EqualTo(2));
        }
        catch (PulsarishClientException e)
        {
            Assert.That(e.ErrorReason, Is.EqualTo(ErrorReason.CorruptMessage));
        }
    }
}
