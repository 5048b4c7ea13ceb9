using System.Buffers;
using Google.Protobuf;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Client.Compression;

/// <summary>
/// Client-side compression of a whole batch (docs/protocol.md §7.5): the producer serializes its messages as a
/// <see cref="MessageBatch"/> and compresses that into a <see cref="CompressedBatch"/> whose uncompressed header
/// (message count, size, first key) is all the broker reads; the consumer decompresses and parses it back.
/// Working buffers come from <see cref="ArrayPool{T}"/>.
/// </summary>
internal static class BatchCompression
{
    /// <summary>Largest uncompressed batch a consumer accepts (the broker's bound on the header too).</summary>
    public const int MaxUncompressedBytes = 64 * 1024 * 1024;

    /// <summary>Compresses <paramref name="messages"/> (at least one) with <paramref name="codec"/>.</summary>
    public static CompressedBatch Compress(CompressionCodec codec, IReadOnlyList<ProducerMessage> messages)
    {
        var batch = new MessageBatch();
        for (int i = 0; i < messages.Count; i++)
        {
            batch.Messages.Add(messages[i]);
        }

        int size = batch.CalculateSize();
        byte[] raw = ArrayPool<byte>.Shared.Rent(Math.Max(1, size));
        byte[] packed = ArrayPool<byte>.Shared.Rent(codec.MaxCompressedLength(size));
        try
        {
            batch.WriteTo(raw.AsSpan(0, size));
            int length = codec.Compress(raw.AsSpan(0, size), packed);
            var first = messages[0];
            return new CompressedBatch
            {
                Codec = codec.WireType,
                MessageCount = messages.Count,
                UncompressedSize = size,
                Data = ByteString.CopyFrom(packed, 0, length),
                Key = first.Key,
                HasKey = first.HasKey,
            };
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(raw);
            ArrayPool<byte>.Shared.Return(packed);
        }
    }

    /// <summary>
    /// The messages of a compressed batch. <paramref name="codecs"/> caches one codec per wire type (the caller's,
    /// not thread-safe). Throws <see cref="PulsarishClientException"/> with
    /// <see cref="ErrorReason.CorruptMessage"/> when the batch does not decompress to what its header says.
    /// </summary>
    public static MessageBatch Decompress(CompressedBatch compressed, Dictionary<Protocol.Broker.CompressionType, CompressionCodec> codecs)
    {
        var wire = compressed.Codec;
        if (!codecs.TryGetValue(wire, out var codec))
        {
            codec = CompressionCodec.Create(wire)
                ?? throw Corrupt(compressed, $"unknown codec {(int)wire}");
            codecs[wire] = codec;
        }

        int size = compressed.UncompressedSize;
        if (size < 1 || size > MaxUncompressedBytes)
        {
            throw Corrupt(compressed, $"uncompressed size {size} outside 1..{MaxUncompressedBytes}");
        }

        byte[] raw = ArrayPool<byte>.Shared.Rent(size);
        try
        {
            MessageBatch batch;
            try
            {
                codec.Decompress(compressed.Data.Memory, raw.AsSpan(0, size));
                batch = MessageBatch.Parser.ParseFrom(raw.AsSpan(0, size));
            }
            catch (Exception e) when (e is InvalidDataException or InvalidProtocolBufferException)
            {
                throw Corrupt(compressed, e.Message, e);
            }

            if (batch.Messages.Count != compressed.MessageCount)
            {
                throw Corrupt(compressed, $"{batch.Messages.Count} messages inside, the header says {compressed.MessageCount}");
            }

            return batch;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(raw);
        }
    }

    private static PulsarishClientException Corrupt(CompressedBatch compressed, string detail, Exception? inner = null)
        => new(ErrorReason.CorruptMessage,
            $"compressed batch ({compressed.Codec}, {compressed.MessageCount} messages) is corrupt: {detail}", inner);
}
