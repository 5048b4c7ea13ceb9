using System.IO.Compression;
using Google.Protobuf;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Client;

/// <summary>Compresses and decompresses message payloads per <see cref="CompressionType"/>.</summary>
public static class PayloadCodec
{
    /// <summary>Largest decompressed payload accepted (guards against decompression bombs from the wire).</summary>
    public const int MaxDecompressedBytes = 64 * 1024 * 1024;

    public static CompressionType ToWire(MessageCompression compression) => compression switch
    {
        MessageCompression.GZip => CompressionType.Gzip,
        MessageCompression.Brotli => CompressionType.Brotli,
        _ => CompressionType.NoCompression,
    };

    /// <summary>The compressed form of <paramref name="payload"/>.</summary>
    public static ByteString Compress(ReadOnlySpan<byte> payload, CompressionType type)
    {
        if (type == CompressionType.NoCompression)
        {
            return ByteString.CopyFrom(payload);
        }

        using var output = new MemoryStream(payload.Length / 2 + 64);
        using (Stream codec = type switch
               {
                   CompressionType.Gzip => new GZipStream(output, CompressionLevel.Fastest, leaveOpen: true),
                   CompressionType.Brotli => new BrotliStream(output, CompressionLevel.Fastest, leaveOpen: true),
                   _ => throw new ArgumentOutOfRangeException(nameof(type), type, "unknown compression"),
               })
        {
            codec.Write(payload);
        }

        return ByteString.CopyFrom(output.GetBuffer().AsSpan(0, (int)output.Length));
    }

    /// <summary>The original payload; throws <see cref="InvalidDataException"/> for corrupt or oversize input.</summary>
    public static byte[] Decompress(ByteString payload, CompressionType type)
    {
        if (type == CompressionType.NoCompression)
        {
            return payload.ToByteArray();
        }

        using var input = new MemoryStream(payload.ToByteArray(), writable: false);
        using Stream codec = type switch
        {
            CompressionType.Gzip => new GZipStream(input, CompressionMode.Decompress),
            CompressionType.Brotli => new BrotliStream(input, CompressionMode.Decompress),
            _ => throw new InvalidDataException($"unknown compression {type}"),
        };
        using var output = new MemoryStream();
        var buffer = new byte[81920];
        int read;
        while ((read = codec.Read(buffer, 0, buffer.Length)) > 0)
        {
            if (output.Length + read > MaxDecompressedBytes)
            {
                throw new InvalidDataException($"decompressed payload exceeds {MaxDecompressedBytes} bytes");
            }

            output.Write(buffer, 0, read);
        }

        return output.ToArray();
    }
}
