using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Pulsarish.Client;

/// <summary>
/// MurmurHash3 x86 32-bit (Austin Appleby's public-domain algorithm), seed 0: a stable hash of message keys for
/// partition routing, identical across processes, platforms and runs (unlike <see cref="string.GetHashCode()"/>).
/// </summary>
public static class Murmur3
{
    private const uint C1 = 0xcc9e2d51;
    private const uint C2 = 0x1b873593;
    private const int StackKeyBytes = 256;

    /// <summary>Hash of the UTF-8 bytes of <paramref name="key"/>.</summary>
    public static uint HashUtf8(string key)
    {
        int max = Encoding.UTF8.GetMaxByteCount(key.Length);
        byte[]? rented = max > StackKeyBytes ? ArrayPool<byte>.Shared.Rent(max) : null;
        Span<byte> buffer = rented ?? stackalloc byte[StackKeyBytes];
        int length = Encoding.UTF8.GetBytes(key, buffer);
        uint hash = Hash32(buffer[..length]);
        if (rented is not null)
        {
            ArrayPool<byte>.Shared.Return(rented);
        }

        return hash;
    }

    /// <summary>MurmurHash3_x86_32 of <paramref name="data"/> with <paramref name="seed"/>.</summary>
    public static uint Hash32(ReadOnlySpan<byte> data, uint seed = 0)
    {
        uint h = seed;
        int blocks = data.Length / 4;
        for (int i = 0; i < blocks; i++)
        {
            uint k = BinaryPrimitives.ReadUInt32LittleEndian(data.Slice(i * 4, 4));
            k *= C1;
            k = uint.RotateLeft(k, 15);
            k *= C2;
            h ^= k;
            h = uint.RotateLeft(h, 13);
            h = h * 5 + 0xe6546b64;
        }

        var tail = data[(blocks * 4)..];
        uint k1 = 0;
        switch (tail.Length)
        {
            case 3:
                k1 ^= (uint)tail[2] << 16;
                goto case 2;
            case 2:
                k1 ^= (uint)tail[1] << 8;
                goto case 1;
            case 1:
                k1 ^= tail[0];
                k1 *= C1;
                k1 = uint.RotateLeft(k1, 15);
                k1 *= C2;
                h ^= k1;
                break;
        }

        h ^= (uint)data.Length;
        h ^= h >> 16;
        h *= 0x85ebca6b;
        h ^= h >> 13;
        h *= 0xc2b2ae35;
        h ^= h >> 16;
        return h;
    }
}
