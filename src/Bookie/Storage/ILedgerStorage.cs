namespace Pulsarish.Bookie.Storage;

/// <summary>What a bookie knows about one ledger.</summary>
/// <param name="Fenced">Durably fenced: normal adds are refused.</param>
/// <param name="Lac">Highest last-add-confirmed piggy-backed on an add, -1 when unknown.</param>
/// <param name="LastEntryId">Highest entry id stored, -1 when none.</param>
public readonly record struct LedgerInfo(bool Fenced, long Lac, long LastEntryId);

/// <summary>What started a garbage-collection pass; it decides the compaction threshold (see <c>StorageOptions</c>).</summary>
public enum GcTrigger
{
    /// <summary>Asked for explicitly (admin, tests): compacts at the major threshold now (BookKeeper's forceGC).</summary>
    Forced,

    /// <summary>The bookie's timer: minor or major compaction only when its interval has passed; dead logs always.</summary>
    Periodic,
}

/// <summary>Outcome of a garbage-collection pass.</summary>
public readonly record struct GcResult(int LedgersDeleted, int EntryLogsCompacted, int EntryLogsDeleted, long BytesReclaimed);

/// <summary>
/// The bookie storage engine contract (DESIGN.md §5): journal + write cache + entry logs + RocksDB index + read
/// cache. Thread-safe. The entry bytes are opaque to storage: the bookie server stores the encoded entry
/// (see <c>StoredEntry</c>) and storage keeps (ledgerId, entryId) → bytes plus per-ledger state.
/// </summary>
public interface ILedgerStorage : IAsyncDisposable
{
    /// <summary>
    /// Adds an entry. The task completes only once the entry is durable in the journal (fsync'd, group commit).
    /// The first add of a ledger records its master key; later adds with another key throw
    /// <see cref="Common.Errors.UnauthorizedException"/>. A normal add (<paramref name="recovery"/> false) to a
    /// fenced ledger throws <see cref="Common.Errors.LedgerFencedException"/>. <paramref name="lac"/> raises the
    /// ledger's known LAC. The caller keeps ownership of <paramref name="entry"/>; storage copies it.
    /// </summary>
    ValueTask AddEntryAsync(long ledgerId, long entryId, ReadOnlyMemory<byte> masterKey, long lac,
        ReadOnlyMemory<byte> entry, bool recovery, CancellationToken ct = default);

    /// <summary>
    /// Reads an entry's bytes (a fresh array owned by the caller). Throws NoSuchLedgerException,
    /// NoSuchEntryException, or CorruptDataException when a stored checksum does not match.
    /// </summary>
    ValueTask<byte[]> ReadEntryAsync(long ledgerId, long entryId, CancellationToken ct = default);

    /// <summary>
    /// Durably fences the ledger (journaled before the task completes) and returns its state. Creates the ledger's
    /// record with <paramref name="masterKey"/> if the bookie has never seen it; throws UnauthorizedException on a
    /// different key.
    /// </summary>
    ValueTask<LedgerInfo> FenceAsync(long ledgerId, ReadOnlyMemory<byte> masterKey, CancellationToken ct = default);

    /// <summary>The ledger's state, or null when this bookie has never seen it.</summary>
    LedgerInfo? GetLedgerInfo(long ledgerId);

    /// <summary>Ids of every ledger this bookie stores.</summary>
    IReadOnlyCollection<long> ListLedgers();

    /// <summary>Forgets a ledger: its index records go now; its bytes are reclaimed by compaction.</summary>
    ValueTask DeleteLedgerAsync(long ledgerId, CancellationToken ct = default);

    /// <summary>
    /// Garbage collection: deletes every stored ledger for which <paramref name="isLive"/> is false, deletes entry
    /// logs without live data, and compacts those whose live fraction is below the threshold
    /// <paramref name="trigger"/> selects. The caller decides what is deleted; storage reclaims the disk.
    /// </summary>
    ValueTask<GcResult> CollectGarbageAsync(Func<long, bool> isLive, GcTrigger trigger = GcTrigger.Forced,
        CancellationToken ct = default);

    /// <summary>Flushes the write cache into entry logs and the index, then records a checkpoint.</summary>
    ValueTask FlushAsync(CancellationToken ct = default);

    /// <summary>
    /// Journal damage found at open and accepted by the operator (<see cref="StorageOptions.AcceptJournalCorruption"/>):
    /// acknowledged entries may be missing, so the bookie serves read-only. Empty normally.
    /// </summary>
    IReadOnlyList<JournalCorruption> AcceptedJournalCorruption { get; }

    /// <summary>A snapshot of the storage counters (journal queue, caches, disk) for BookieInfo and metrics.</summary>
    StorageStats GetStats();
}
