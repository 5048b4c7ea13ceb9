namespace Pulsarish.Bookie.Storage;

/// <summary>A snapshot of storage counters for BookieInfo and metrics.</summary>
/// <param name="JournalQueueLength">Records waiting for the journal writer.</param>
/// <param name="JournalFsyncCount">Journal fdatasync calls (one per group) since start.</param>
/// <param name="JournalRecordsWritten">Journal records written since start.</param>
/// <param name="WriteCacheBytes">Bytes in both write cache halves.</param>
/// <param name="ReadCacheHits">Read cache hits since start.</param>
/// <param name="ReadCacheMisses">Read cache misses since start.</param>
/// <param name="EntryLogCount">Entry log files.</param>
/// <param name="LedgerCount">Ledgers stored.</param>
/// <param name="LedgersDirBytes">Bytes of the entry log files.</param>
/// <param name="FreeDiskBytes">Free bytes on the ledgers directory's disk.</param>
/// <param name="TotalDiskBytes">Size of the ledgers directory's disk.</param>
public readonly record struct StorageStats(
    int JournalQueueLength,
    long JournalFsyncCount,
    long JournalRecordsWritten,
    long WriteCacheBytes,
    long ReadCacheHits,
    long ReadCacheMisses,
    int EntryLogCount,
    int LedgerCount,
    long LedgersDirBytes,
    long FreeDiskBytes,
    long TotalDiskBytes);
