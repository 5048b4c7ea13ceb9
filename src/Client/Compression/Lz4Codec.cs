using K4os.Compression.LZ4;
using WireCompression = Pulsarish.Protocol.Broker.CompressionType;

namespace Pulsarish.Client.Compression;

/// <summary>LZ4 block format (no frame), fast level — what Pulsar's LZ4 codec writes.</summary>
internal sealed class Lz4Codec : CompressionCodec
{
    public override WireCompression WireType => WireCompression.Lz4;

    public override int MaxCompressedLength(int sourceLength) => LZ4Codec.MaximumOutputSize(sourceLength);

    public override int Compress(ReadOnlySpan<byte> source, byte[] target)
    {
        int written = LZ4Codec.Encode(source, target, LZ4Level.L00_FAST);
        if (written < 0)
        {
            throw new InvalidOperationException($"LZ4 could not compress {source.Length} bytes");
        }

        return written;
    }

    public override void Decompress(ReadOnlyMemory<byte> source, Span<byte> target)
    {
        int decoded = LZ4Codec.Decode(source.Span, target);
        if (decoded < 0)
        {
            throw new InvalidDataException("corrupt LZ4 data");
        }

        if (decoded != target.Length)
        {
            throw WrongLength(decoded, target.Length);
        }
    }
}
