using System.Buffers.Binary;
using System.Numerics;
using System.Runtime.InteropServices;

namespace Pulsarish.Protocol.Checksums;

/// <summary>
/// CRC32C (Castagnoli), hardware accelerated through <see cref="BitOperations.Crc32C(uint, ulong)"/>
/// (SSE4.2 / ARMv8 CRC32 where present, a table-free software fallback otherwise).
/// Thread-safe and allocation-free.
/// </summary>
public static class Crc32C
{
    /// <summary>Computes the CRC32C of <paramref name="data"/>.</summary>
    public static uint Compute(ReadOnlySpan<byte> data) => ~Update(~0u, data);

    /// <summary>
    /// Continues a running (pre-inverted) CRC. Start with <c>~0u</c>, feed spans, finish with <c>~crc</c>.
    /// </summary>
    public static uint Update(uint crc, ReadOnlySpan<byte> data)
    {
        var longs = MemoryMarshal.Cast<byte, ulong>(data);
        foreach (ulong v in longs)
        {
            crc = BitOperations.Crc32C(crc, BitConverter.IsLittleEndian ? v : BinaryPrimitives.ReverseEndianness(v));
        }
        for (int i = longs.Length * 8; i < data.Length; i++)
        {
            crc = BitOperations.Crc32C(crc, data[i]);
        }
        return crc;
    }

    /// <summary>Feeds a 64-bit value in big-endian byte order.</summary>
    public static uint UpdateInt64(uint crc, long value)
    {
        Span<byte> b = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(b, value);
        return Update(crc, b);
    }
}
