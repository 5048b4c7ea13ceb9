namespace Pulsarish.Client;

/// <summary>
/// How a producer compresses its batches (Pulsar's <c>CompressionType</c>). The producer compresses each batch, the
/// broker stores and delivers it as sent, and the consumer decompresses it: compression saves network and bookie
/// disk both ways and costs the broker nothing (docs/protocol.md §7.5). Consumers read every codec whatever their
/// own producers use.
/// </summary>
public enum CompressionType
{
    /// <summary>Batches travel and are stored uncompressed.</summary>
    None = 0,

    /// <summary>LZ4 block format: fastest, a fair ratio. Pulsar's usual choice.</summary>
    LZ4 = 1,

    /// <summary>Zstandard (level 3): a better ratio for more CPU.</summary>
    ZSTD = 2,

    /// <summary>Snappy raw format.</summary>
    Snappy = 3,

    /// <summary>zlib (deflate, fastest level).</summary>
    Zlib = 4,
}
