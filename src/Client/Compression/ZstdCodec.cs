using ZstdSharp;
using WireCompression = Pulsarish.Protocol.Broker.CompressionType;

namespace Pulsarish.Client.Compression;

/// <summary>One Zstandard frame per batch, level 3 (Pulsar's default); contexts are kept per instance.</summary>
internal sealed class ZstdCodec : CompressionCodec
{
    private const int Level = 3;
    private Compressor? _compressor;
    private Decompressor? _decompressor;

    public override WireCompression WireType => WireCompression.Zstd;

    public override int MaxCompressedLength(int sourceLength) => Compressor.GetCompressBound(sourceLength);

    public override int Compress(ReadOnlySpan<byte> source, byte[] target)
    {
        _compressor ??= new Compressor(Level);
        return _compressor.Wrap(source, target);
    }

    public override void Decompress(ReadOnlyMemory<byte> source, Span<byte> target)
    {
        _decompressor ??= new Decompressor();
        int decoded;
        try
        {
            decoded = _decompressor.Unwrap(source.Span, target);
        }
        catch (ZstdException e)
        {
            throw new InvalidDataException($"corrupt Zstandard data: {e.Message}", e);
        }

        if (decoded != target.Length)
        {
            throw WrongLength(decoded, target.Length);
        }
    }
}
