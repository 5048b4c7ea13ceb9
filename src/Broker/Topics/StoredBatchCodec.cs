using System.IO.Compression;
using Google.Protobuf;
using Pulsarish.Protocol.Errors;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Topics;

/// <summary>
/// Encodes a producer batch into the stored entry form (<see cref="StoredBatch"/>, compressed when the producer asked
/// for it) and decodes it back with the messages decompressed. Decoding rejects entries whose decompressed size
/// exceeds a bound (<see cref="CorruptDataException"/>).
/// </summary>
public static class StoredBatchCodec
{
    /// <summary>Largest decompressed message block accepted when decoding.</summary>
    public const int MaxDecompressedBytes = 64 * 1024 * 1024;

    /// <summary>The stored bytes of <paramref name="batch"/> (messages moved into compressed_messages when compressed).</summary>
    public static byte[] Encode(StoredBatch batch)
    {
        if (batch.Compression == CompressionType.NoCompression || batch.Messages.Count == 0)
        {
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

    /// <summary>Parses an entry; the result always carries its messages uncompressed.</summary>
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
