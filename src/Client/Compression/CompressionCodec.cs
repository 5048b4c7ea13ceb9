using WireCompression = Pulsarish.Protocol.Broker.CompressionType;

namespace Pulsarish.Client.Compression;

/// <summary>
/// One block codec of client-side compression: compresses a whole serialized batch into a buffer and decompresses it
/// into a buffer of exactly the size recorded at compression time. An instance may keep codec state (Zstandard
/// contexts): it is not thread-safe, so each producer and consumer owns its own.
/// </summary>
internal abstract class CompressionCodec
{
    /// <summary>The codec as named on the wire.</summary>
    public abstract WireCompression WireType { get; }

    /// <summary>The largest output <see cref="Compress"/> can produce for <paramref name="sourceLength"/> bytes.</summary>
    public abstract int MaxCompressedLength(int sourceLength);

    /// <summary>Compresses <paramref name="source"/> into <paramref name="target"/> (at least <see cref="MaxCompressedLength"/> long); returns the bytes written.</summary>
    public abstract int Compress(ReadOnlySpan<byte> source, byte[] target);

    /// <summary>
    /// Decompresses <paramref name="source"/> into all of <paramref name="target"/>. Throws
    /// <see cref="InvalidDataException"/> when the data is corrupt or does not decompress to exactly that length.
    /// </summary>
    public abstract void Decompress(ReadOnlyMemory<byte> source, Span<byte> target);

    /// <summary>A new codec for a producer's setting; null for <see cref="CompressionType.None"/>.</summary>
    public static CompressionCodec? Create(CompressionType type) => type switch
    {
        CompressionType.None => null,
        CompressionType.LZ4 => new Lz4Codec(),
        CompressionType.ZSTD => new ZstdCodec(),
        CompressionType.Snappy => new SnappyCodec(),
        CompressionType.Zlib => new ZlibCodec(),
        _ => throw new ArgumentOutOfRangeException(nameof(type), type, "unknown compression type"),
    };

    /// <summary>A new codec for a wire codec; null for one that is not a client-side codec.</summary>
    public static CompressionCodec? Create(WireCompression type) => type switch
    {
        WireCompression.Lz4 => new Lz4Codec(),
        WireCompression.Zstd => new ZstdCodec(),
        WireCompression.Snappy => new SnappyCodec(),
        WireCompression.Zlib => new ZlibCodec(),
        _ => null,
    };

    /// <summary>The error for a decompressed length other than the recorded one.</summary>
    protected static InvalidDataException WrongLength(int actual, int expected)
        => new($"decompressed to {actual} bytes, the batch header says {expected}");
}
