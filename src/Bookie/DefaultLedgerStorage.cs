using Microsoft.Extensions.Logging;
using Pulsarish.Bookie.Storage;

namespace Pulsarish.Bookie;

/// <summary>Opens the real storage engine for a bookie's options (the default <see cref="LedgerStorageFactory"/>).</summary>
public static class DefaultLedgerStorage
{
    /// <summary>Storage settings derived from the bookie's.</summary>
    public static StorageOptions ToStorageOptions(BookieOptions options) => new()
    {
        JournalDir = options.JournalDir,
        LedgersDir = options.LedgersDir,
        IndexDir = options.IndexDir,
        MaxGroupWait = TimeSpan.FromMicroseconds(options.GroupWaitMicros),
        MaxGroupBytes = options.MaxGroupBytes,
        DirectWrites = options.DirectWrites,
        AcceptJournalCorruption = options.AcceptJournalCorruption,
        MinorCompactionInterval = options.MinorCompactionInterval,
        MajorCompactionInterval = options.MajorCompactionInterval,
        // Storage keeps the encoded entry: the payload plus the LAC and digest header.
        MaxEntryBytes = options.MaxEntryBytes + Server.StoredEntry.HeaderBytes,
        // Each write-cache half must hold one maximum-size entry.
        WriteCacheMaxBytes = Math.Max(new StorageOptions().WriteCacheMaxBytes,
            4L * (options.MaxEntryBytes + Server.StoredEntry.HeaderBytes)),
    };

    /// <summary>Opens <see cref="LedgerStorage"/> (journal replay included) on the bookie's directories.</summary>
    public static ValueTask<ILedgerStorage> OpenAsync(BookieOptions options, ILoggerFactory loggerFactory,
        CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        return ValueTask.FromResult<ILedgerStorage>(
            new LedgerStorage(ToStorageOptions(options), loggerFactory.CreateLogger<LedgerStorage>()));
    }
}
