namespace Pulsarish.Bookie.Storage;

/// <summary>
/// Settings of the bookie storage engine (DESIGN.md §5). Defaults follow BookKeeper's DbLedgerStorage where it has
/// an equivalent (journalMaxGroupWaitMSec = 2, journalMaxSizeMB, dbStorage_writeCacheMaxSizeMb, …).
/// Call <see cref="Validate"/> before use; <see cref="LedgerStorage"/> does.
/// </summary>
public sealed class StorageOptions
{
    /// <summary>Upper bound of <see cref="MaxEntryBytes"/> in any configuration.</summary>
    public const int MaxEntryBytesLimit = 256 * 1024 * 1024;

    /// <summary>Directory of the journal files (<c>&lt;hex id&gt;.journal</c>); ideally its own disk.</summary>
    public string JournalDir { get; set; } = "data/bookie/journal";

    /// <summary>Directory of the entry log files (<c>&lt;hex id&gt;.log</c>).</summary>
    public string LedgersDir { get; set; } = "data/bookie/ledgers";

    /// <summary>Directory of the RocksDB index.</summary>
    public string IndexDir { get; set; } = "data/bookie/index";

    /// <summary>
    /// Longest time the journal waits to gather a group before it writes and fsyncs (BK journalMaxGroupWaitMSec = 2).
    /// The actual wait is also capped by the recent fsync latency and skipped below 1 ms, so a fast disk is not
    /// slowed down by waiting longer than a sync takes.
    /// </summary>
    public TimeSpan MaxGroupWait { get; set; } = TimeSpan.FromMilliseconds(2);

    /// <summary>A group is written and fsync'd as soon as it holds this many bytes (BK journalBufferedWritesThreshold = 512 KiB).</summary>
    public int MaxGroupBytes { get; set; } = 512 * 1024;

    /// <summary>A journal file is rolled once it reaches this size (BK journalMaxSizeMB = 2048; smaller here to bound replay).</summary>
    public long JournalMaxFileBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>
    /// The journal zero-fills its file this far ahead of the writes (BK journalPreAllocSizeMB = 16; smaller here so one
    /// fill does not stall a group for long on a slow disk). 0 disables preallocation. With direct writes it is rounded
    /// up to whole 4 KiB pages.
    /// </summary>
    public long JournalPreallocateBytes { get; set; } = 4L * 1024 * 1024;

    /// <summary>
    /// The journal and the entry logs append with O_DIRECT (Linux) where the file system allows it (see
    /// <c>DirectAppender</c>): appended bytes and the journal's preallocation zeros are not copied into the page
    /// cache. Falls back to buffered writes where O_DIRECT is refused (e.g. tmpfs). Every sync point still ends in
    /// fdatasync; reads stay buffered.
    /// </summary>
    public bool DirectWrites { get; set; } = true;

    /// <summary>
    /// Whether opening the storage accepts a damaged journal (DESIGN.md §9). Off (the default): a bad record in a
    /// journal file before the last one (those were synced before the roll), a record of unknown kind in any file, or
    /// a bad record in the last file followed by valid records beyond the reach of one group write, means acknowledged
    /// entries are damaged, and opening throws <see cref="Common.Errors.CorruptDataException"/> naming the file and
    /// offset, leaving the files untouched: the bookie refuses to start. On: the operator accepts the loss. The file is
    /// truncated at the damage (what follows in it is lost; later files still replay), an error names file and offset,
    /// <see cref="LedgerStorage.AcceptedJournalCorruption"/> lists the damage, and the bookie serves read-only until it
    /// restarts, so no new ledger lands on it while the auditor's periodic check (or
    /// <c>pulsarish admin bookies recover</c>) re-replicates the entries it lost. The truncation is permanent: the next
    /// start finds a sound journal and starts writable. A torn tail of the last file is cut with a warning either way.
    /// </summary>
    public bool AcceptJournalCorruption { get; set; }

    /// <summary>Bound of the journal queue in records; adders wait when it is full (BK journalQueueSize = 10000).</summary>
    public int JournalQueueCapacity { get; set; } = 10_000;

    /// <summary>Total bytes of the write cache, split into two halves (active and flushing) (BK dbStorage_writeCacheMaxSizeMb).</summary>
    public long WriteCacheMaxBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>Period of the background write-cache flush (BK flushInterval = 1 s for DbLedgerStorage).</summary>
    public TimeSpan FlushInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>An entry log is rolled once it reaches this size (BK logSizeLimit = 1 GiB; smaller keeps compaction cheap).</summary>
    public long EntryLogMaxFileBytes { get; set; } = 128L * 1024 * 1024;

    /// <summary>Bytes of the read cache (BK dbStorage_readAheadCacheMaxSizeMb).</summary>
    public long ReadCacheMaxBytes { get; set; } = 32L * 1024 * 1024;

    /// <summary>Entries of the same ledger read ahead into the read cache on a miss (BK dbStorage_readAheadCacheBatchSize = 100).</summary>
    public int ReadAheadEntries { get; set; } = 100;

    /// <summary>Upper bound of bytes read ahead on one miss.</summary>
    public int ReadAheadBytes { get; set; } = 1024 * 1024;

    /// <summary>Largest accepted entry (BK nettyMaxFrameSizeBytes = 5 MiB); larger adds throw TooLargeException.</summary>
    public int MaxEntryBytes { get; set; } = 5 * 1024 * 1024;

    /// <summary>
    /// Major compaction threshold: entry logs whose live fraction is below this are compacted by a forced
    /// garbage-collection pass, and by a periodic one every <see cref="MajorCompactionInterval"/>
    /// (BK majorCompactionThreshold = 0.5). Entry logs without live bytes are deleted by every pass, whatever the
    /// thresholds. 0 disables major compaction.
    /// </summary>
    public double CompactionThreshold { get; set; } = 0.5;

    /// <summary>Period of major compaction in periodic garbage collection, counted from start-up (BK majorCompactionInterval = 1 day).</summary>
    public TimeSpan MajorCompactionInterval { get; set; } = TimeSpan.FromDays(1);

    /// <summary>
    /// Minor compaction threshold: a periodic garbage-collection pass compacts entry logs whose live fraction is below
    /// this every <see cref="MinorCompactionInterval"/> (BK minorCompactionThreshold = 0.2). 0 disables it.
    /// </summary>
    public double MinorCompactionThreshold { get; set; } = 0.2;

    /// <summary>
    /// Period of minor compaction in periodic garbage collection, counted from start-up (BK minorCompactionInterval =
    /// 1 hour). The standalone shortens it to its GC interval so that nearly dead logs (a trimmed topic's data next to a
    /// few live cursor entries) are given back within minutes.
    /// </summary>
    public TimeSpan MinorCompactionInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Throws <see cref="ArgumentException"/> when a setting makes no sense.</summary>
    public void Validate()
    {
        Require(!string.IsNullOrWhiteSpace(JournalDir), nameof(JournalDir), "must be set");
        Require(!string.IsNullOrWhiteSpace(LedgersDir), nameof(LedgersDir), "must be set");
        Require(!string.IsNullOrWhiteSpace(IndexDir), nameof(IndexDir), "must be set");
        Require(MaxGroupWait >= TimeSpan.Zero && MaxGroupWait <= TimeSpan.FromSeconds(1), nameof(MaxGroupWait), "must be within 0..1 s");
        Require(MaxGroupBytes >= 4096, nameof(MaxGroupBytes), "must be at least 4 KiB");
        Require(MaxEntryBytes >= 1, nameof(MaxEntryBytes), "must be positive");
        Require(MaxEntryBytes <= MaxEntryBytesLimit, nameof(MaxEntryBytes), "must be at most 256 MiB");
        Require(JournalMaxFileBytes >= 64 * 1024, nameof(JournalMaxFileBytes), "must be at least 64 KiB");
        Require(JournalPreallocateBytes >= 0, nameof(JournalPreallocateBytes), "must not be negative");
        Require(JournalQueueCapacity >= 1, nameof(JournalQueueCapacity), "must be positive");
        Require(WriteCacheMaxBytes / 2 >= MaxEntryBytes + EntryLog.HeaderBytes, nameof(WriteCacheMaxBytes),
            "each half must hold at least one maximum-size entry");
        Require(WriteCacheMaxBytes / 2 <= int.MaxValue, nameof(WriteCacheMaxBytes), "each half must be below 2 GiB");
        Require(FlushInterval > TimeSpan.Zero, nameof(FlushInterval), "must be positive");
        Require(EntryLogMaxFileBytes >= 64 * 1024, nameof(EntryLogMaxFileBytes), "must be at least 64 KiB");
        Require(ReadCacheMaxBytes >= 0, nameof(ReadCacheMaxBytes), "must not be negative");
        Require(ReadAheadEntries >= 0, nameof(ReadAheadEntries), "must not be negative");
        Require(ReadAheadBytes >= 0, nameof(ReadAheadBytes), "must not be negative");
        Require(CompactionThreshold >= 0 && CompactionThreshold <= 1, nameof(CompactionThreshold), "must be within 0..1");
        Require(MinorCompactionThreshold >= 0 && MinorCompactionThreshold <= CompactionThreshold, nameof(MinorCompactionThreshold),
            "must be within 0..CompactionThreshold");
        Require(MinorCompactionInterval > TimeSpan.Zero, nameof(MinorCompactionInterval), "must be positive");
        Require(MajorCompactionInterval > TimeSpan.Zero, nameof(MajorCompactionInterval), "must be positive");
    }

    private static void Require(bool ok, string name, string what)
    {
        if (!ok)
        {
            throw new ArgumentException($"StorageOptions.{name} {what}", name);
        }
    }
}
