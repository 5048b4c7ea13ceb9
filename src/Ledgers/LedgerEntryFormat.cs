using System.Buffers.Binary;
using Pulsarish.Protocol.Errors;

namespace Pulsarish.Ledgers;

/// <summary>
/// What the ledger client stores as an entry's bytes on bookies: an 8-byte big-endian header holding the ledger's
/// total payload length up to and including this entry (as BookKeeper's entry header carries it, so recovery can
/// close the ledger with its length), then the caller's payload. The digest covers the whole stored entry.
/// </summary>
public static class LedgerEntryFormat
{
    public const int HeaderBytes = 8;

    /// <summary>Builds the stored form in a fresh array (the add owns it until every bookie answered).</summary>
    public static byte[] Encode(long ledgerLengthBytes, ReadOnlySpan<byte> payload)
    {
        var stored = new byte[HeaderBytes + payload.Length];
        BinaryPrimitives.WriteInt64BigEndian(stored, ledgerLengthBytes);
        payload.CopyTo(stored.AsSpan(HeaderBytes));
        return stored;
    }

    /// <summary>The ledger length recorded in a stored entry. Throws <see cref="CorruptDataException"/> when too short.</summary>
    public static long ReadLedgerLength(ReadOnlySpan<byte> stored)
    {
        if (stored.Length < HeaderBytes)
        {
            throw new CorruptDataException($"stored entry of {stored.Length} bytes has no header");
        }
        return BinaryPrimitives.ReadInt64BigEndian(stored);
    }

    /// <summary>The caller's payload inside a stored entry.</summary>
    public static ReadOnlyMemory<byte> Payload(ReadOnlyMemory<byte> stored)
    {
        if (stored.Length < HeaderBytes)
        {
            throw new CorruptDataException($"stored entry of {stored.Length} bytes has no header");
        }
        return stored[HeaderBytes..];
    }
}
