using Pulsarish.Ledgers;
using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Bookie.AutoRecovery;

/// <summary>
/// Entry ranges of a ledger's fragments (DESIGN.md §2-§3): fragment i holds entries from its first entry id up to the
/// next fragment's first entry id − 1, the last one up to the ledger's last entry id when CLOSED (unended otherwise).
/// </summary>
public static class FragmentRange
{
    /// <summary>The last entry id of fragment <paramref name="index"/>, or null for the unended last fragment of a ledger not yet closed.</summary>
    public static long? LastEntryId(LedgerMetadata metadata, int index)
    {
        if (index + 1 < metadata.Fragments.Count)
        {
            return metadata.Fragments[index + 1].FirstEntryId - 1;
        }
        return metadata.State == LedgerState.Closed ? metadata.LastEntryId : null;
    }

    /// <summary>Whether ensemble index <paramref name="bookieIndex"/> holds any entry of [first, last] (write sets of §3.1).</summary>
    public static bool HoldsAny(LedgerMetadata metadata, int bookieIndex, long first, long last)
    {
        int e = metadata.EnsembleSize;
        for (long entry = first; entry <= last && entry < first + e; entry++)
        {
            if (WriteSet.Contains(entry, bookieIndex, e, metadata.WriteQuorum))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>The first entry of [first, last] whose write set includes <paramref name="bookieIndex"/>, or -1.</summary>
    public static long FirstHeld(LedgerMetadata metadata, int bookieIndex, long first, long last)
    {
        for (long entry = first; entry <= last && entry < first + metadata.EnsembleSize; entry++)
        {
            if (WriteSet.Contains(entry, bookieIndex, metadata.EnsembleSize, metadata.WriteQuorum))
            {
                return entry;
            }
        }
        return -1;
    }

    /// <summary>The last entry of [first, last] whose write set includes <paramref name="bookieIndex"/>, or -1.</summary>
    public static long LastHeld(LedgerMetadata metadata, int bookieIndex, long first, long last)
    {
        for (long entry = last; entry >= first && entry > last - metadata.EnsembleSize; entry--)
        {
            if (WriteSet.Contains(entry, bookieIndex, metadata.EnsembleSize, metadata.WriteQuorum))
            {
                return entry;
            }
        }
        return -1;
    }
}
