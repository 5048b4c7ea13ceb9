using Snappier;
using WireCompression = Pulsarish.Protocol.Broker.CompressionType;

namespace Pulsarish.Client.Compression;

/// <summary>Snappy raw block format (as Pulsar's SNAPPY codec).</summary>
internal sealed class SnappyCodec : CompressionCodec
{
    public override WireCompression WireType => WireCompression.Snappy;

    public override int MaxCompressedLength(int sourceLength) => Snappy.GetMaxCompressedLength(sourceLength);

    public override int Compress(ReadOnlySpan<byte> source, byte[] target) => Snappy.Compress(source, target);

    public override void Decompress(ReadOnlyMemory<byte> source, Span<byte> target)
    {
        int length;
        try
        {
            length = Snappy.GetUncompressedLength(source.Span);
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException or IndexOutOfRangeException)
        {
            throw new InvalidDataException($"corrupt Snappy data: {e.Message}", e);
        }

        if (length != target.Length)
        {
            throw WrongLength(length, target.Length);
        }

        try
        {
            Snappy.Decompress(source.Span, target);
        }
        catch (Exception e) when (e is InvalidDataException or ArgumentException or IndexOutOfRangeException)
        {
            throw new InvalidDataException($"corrupt Snappy data: {e.Message}", e);
        }
    }
}
