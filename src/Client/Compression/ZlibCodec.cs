using System.IO.Compression;
using System.Runtime.InteropServices;
using WireCompression = Pulsarish.Protocol.Broker.CompressionType;

namespace Pulsarish.Client.Compression;

/// <summary>A zlib stream (RFC 1950: deflate with header and Adler-32) per batch, fastest level.</summary>
internal sealed class ZlibCodec : CompressionCodec
{
    public override WireCompression WireType => WireCompression.Zlib;

    // The fastest level (zlib-ng's quick strategy) always uses static Huffman codes: 9 bits for a literal at worst,
    // so up to 1/8 larger, plus block ends, the 2-byte header and the 4-byte checksum.
    public override int MaxCompressedLength(int sourceLength) => sourceLength + (sourceLength >> 2) + 64;

    public override int Compress(ReadOnlySpan<byte> source, byte[] target)
    {
        using var output = new MemoryStream(target, writable: true);
        using (var zlib = new ZLibStream(output, CompressionLevel.Fastest, leaveOpen: true))
        {
            zlib.Write(source);
        }

        return (int)output.Position;
    }

    public override void Decompress(ReadOnlyMemory<byte> source, Span<byte> target)
    {
        var segment = MemoryMarshal.TryGetArray(source, out var array) ? array : new ArraySegment<byte>(source.ToArray());
        using var input = new MemoryStream(segment.Array!, segment.Offset, segment.Count, writable: false);
        try
        {
            using var zlib = new ZLibStream(input, CompressionMode.Decompress);
            int total = 0;
            while (total < target.Length)
            {
                int read = zlib.Read(target[total..]);
                if (read == 0)
                {
                    throw WrongLength(total, target.Length);
                }

                total += read;
            }

            Span<byte> probe = stackalloc byte[1];
            if (zlib.Read(probe) != 0)
            {
                throw new InvalidDataException($"zlib data decompresses to more than the {target.Length} bytes of the batch header");
            }
        }
        catch (InvalidDataException)
        {
            throw;
        }
        catch (Exception e) when (e is IOException or ArgumentException)
        {
            throw new InvalidDataException($"corrupt zlib data: {e.Message}", e);
        }
    }
}
