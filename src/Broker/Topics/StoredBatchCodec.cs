using System.IO.Compression;
using Google.Protobuf;
using Pulsarish.Protocol.Errors;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Topics;

/// <summary>
/// Encodes a producer batch into the stored entry form (<see cref="StoredBatch"/>) and decodes it back. A batch the
/// producer compressed (<see cref="StoredBatch.Compressed"/>, docs/protocol.md §7.5) is stored and decoded as sent:
/// the broker reads only its uncompressed header, never its data. Entries of the legacy broker-side compression
/// (GZIP/BROTLI in <see cref="StoredBatch.Compression"/>, written by older brokers or for older clients) are
/// compressed here and decompressed on decode; decoding rejects those whose decompressed size exceeds a bound
/// (<see cref="CorruptDataException"/>).
/// </summary>
public static class StoredBatchCodec
{
    /// <summary>Largest decompressed message block accepted when decoding.</summary>
    public const int MaxDecompressedBytes = 64 * 1024 * 1024;

    /// <summary>Messages in a decoded batch: the header's count for a client-compressed batch.</summary>
    public static int MessageCount(StoredBatch batch)
        => batch.Compressed is { } compressed ? compressed.MessageCount : batch.Messages.Count;

    /// <summary>The key the batch is routed by (Key_Shared): its first message's, "" without one.</summary>
    public static string RoutingKey(StoredBatch batch)
    {
        if (batch.Compressed is { } compressed)
        {
            return compressed.HasKey ? compressed.Key : "";
        }
        return batch.Messages.Count > 0 && batch.Messages[0].HasKey ? batch.Messages[0].Key : "";
    }

    /// <summary>
    /// Checks the compression of a batch received from a producer (wire input): a broker-side codec only among the
    /// legacy ones, and for a client-compressed batch a client-side codec, at least one message, a plausible
    /// uncompressed size, data present, and no uncompressed messages beside it.
    /// Throws <see cref="BadRequestException"/>; the data itself is not looked at.
    /// </summary>
    public static void ValidateCompressed(StoredBatch batch)
    {
        // Only the legacy codecs are the broker's to apply; a client-side codec names compressed data, never plain messages.
        if (batch.Compression is not (CompressionType.NoCompression or CompressionType.Gzip or CompressionType.Brotli))
        {
            throw new BadRequestException($"compression {batch.Compression} is applied by the producer: send the batch in 'compressed'");
        }
        var compressed = batch.Compressed;
        if (compressed is null)
        {
            return;
        }
        if (compressed.Codec is not (CompressionType.Lz4 or CompressionType.Zstd or CompressionType.Snappy or CompressionType.Zlib))
        {
            throw new BadRequestException($"unknown client-side compression codec {compressed.Codec}");
        }
        if (batch.Compression != CompressionType.NoCompression || batch.Messages.Count > 0)
        {
            throw new BadRequestException("a compressed batch carries its messages only in 'compressed'");
        }
        if (compressed.MessageCount < 1)
        {
            throw new BadRequestException($"a compressed batch needs at least one message, got {compressed.MessageCount}");
        }
        if (compressed.UncompressedSize < 1 || compressed.UncompressedSize > MaxDecompressedBytes)
        {
            throw new BadRequestException($"uncompressed size {compressed.UncompressedSize} outside 1..{MaxDecompressedBytes}");
        }
        if (compressed.Data.IsEmpty)
        {
            throw new BadRequestException("a compressed batch has no data");
        }
    }

    /// <summary>The stored bytes of <paramref name="batch"/> (messages moved into compressed_messages when compressed).</summary>
    public static byte[] Encode(StoredBatch batch)
    {
        if (batch.Compression == CompressionType.NoCompression || batch.Messages.Count == 0)
        {
            // Uncompressed, or compressed by the client: stored as sent.
            return batch.ToByteArray();
        }
        var inner = new StoredBatch();
        inner.Messages.AddRange(batch.Messages);
        byte[] raw = inner.ToByteArray();
        using var output = new MemoryStream();
        using (Stream compressor = batch.Compression == CompressionType.Gzip
                   ? new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true)
                   : new BrotliStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            compressor.Write(raw);
        }
        var stored = batch.Clone();
        stored.Messages.Clear();
        stored.CompressedMessages = ByteString.CopyFrom(output.GetBuffer(), 0, (int)output.Length);
        return stored.ToByteArray();
    }

    /// <summary>
    /// Parses an entry; the result carries its messages uncompressed, or (client-compressed) its
    /// <see cref="StoredBatch.Compressed"/> batch untouched.
    /// </summary>
    public static StoredBatch Decode(ReadOnlyMemory<byte> data)
    {
        StoredBatch batch;
        try
        {
            batch = StoredBatch.Parser.ParseFrom(data.Span);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new CorruptDataException($"entry is not a stored batch: {ex.Message}");
        }
        if (batch.Compression == CompressionType.NoCompression || batch.CompressedMessages.IsEmpty)
        {
            return batch;
        }
        using var input = new MemoryStream(batch.CompressedMessages.ToByteArray());
        using Stream decompressor = batch.Compression switch
        {
            CompressionType.Gzip => new GZipStream(input, CompressionMode.Decompress),
            CompressionType.Brotli => new BrotliStream(input, CompressionMode.Decompress),
            _ => throw new CorruptDataException($"unknown compression {batch.Compression}"),
        };
        using var output = new MemoryStream();
        byte[] buffer = new byte[81920];
        int read;
        while ((read = decompressor.Read(buffer)) > 0)
        {
            if (output.Length + read > MaxDecompressedBytes)
            {
                throw new CorruptDataException($"decompressed batch exceeds {MaxDecompressedBytes} bytes");
            }
            output.Write(buffer, 0, read);
        }
        StoredBatch inner;
        try
        {
            inner = StoredBatch.Parser.ParseFrom(output.GetBuffer(), 0, (int)output.Length);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new CorruptDataException($"decompressed batch is malformed: {ex.Message}");
        }
        batch.Messages.AddRange(inner.Messages);
        batch.CompressedMessages = ByteString.Empty;
        batch.Compression = CompressionType.NoCompression;
        return batch;
    }
}
