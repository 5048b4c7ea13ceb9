namespace Pulsarish.Protocol.Checksums;

/// <summary>
/// The digest every entry carries (DESIGN.md §5): CRC32C over big-endian (ledgerId, entryId, lac) followed by
/// the payload. Computed by the writer; verified by bookies on add and by readers on read.
/// </summary>
public static class EntryDigest
{
    public static uint Compute(long ledgerId, long entryId, long lac, ReadOnlySpan<byte> payload)
    {
        uint crc = ~0u;
        crc = Crc32C.UpdateInt64(crc, ledgerId);
        crc = Crc32C.UpdateInt64(crc, entryId);
        crc = Crc32C.UpdateInt64(crc, lac);
        crc = Crc32C.Update(crc, payload);
        return ~crc;
    }

    public static bool Verify(long ledgerId, long entryId, long lac, ReadOnlySpan<byte> payload, uint digest)
        => Compute(ledgerId, entryId, lac, payload) == digest;
}
