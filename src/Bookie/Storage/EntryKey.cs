namespace Pulsarish.Bookie.Storage;

/// <summary>(ledgerId, entryId), ordered by ledger then entry — the order entries are flushed and indexed in.</summary>
internal readonly struct EntryKey(long ledgerId, long entryId) : IEquatable<EntryKey>, IComparable<EntryKey>
{
    public readonly long LedgerId = ledgerId;
    public readonly long EntryId = entryId;

    public bool Equals(EntryKey other) => LedgerId == other.LedgerId && EntryId == other.EntryId;

    public override bool Equals(object? obj) => obj is EntryKey other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(LedgerId, EntryId);

    public int CompareTo(EntryKey other)
    {
        int c = LedgerId.CompareTo(other.LedgerId);
        return c != 0 ? c : EntryId.CompareTo(other.EntryId);
    }

    public override string ToString() => $"{LedgerId}:{EntryId}";
}
