using Microsoft.Extensions.Logging;
using RocksDbSharp;

namespace Pulsarish.Bookie.Storage;

/// <summary>
/// Storage-side garbage collection (BookKeeper's GarbageCollectorThread, DESIGN §5). The caller decides which
/// ledgers are deleted (the bookie's <c>BookieGarbageCollector</c> asks the ledger metadata); a pass here reclaims
/// their disk: the dead ledgers are deleted from storage (journaled, then removed from the index with one range
/// delete each, which RocksDB's own compaction drops), every entry log without live bytes is deleted, and entry logs
/// whose live fraction is below the pass's compaction threshold are handed to <see cref="EntryLogCompactor"/>. The
/// current entry log takes part too: when it is all dead, or below the threshold, it is rolled first, so a trimmed
/// topic's last log is not held until it fills up.
/// <para>Thresholds (BookKeeper's minor and major compaction): a <see cref="GcTrigger.Periodic"/> pass compacts
/// below <see cref="StorageOptions.CompactionThreshold"/> once <see cref="StorageOptions.MajorCompactionInterval"/>
/// has passed since the last major compaction, else below <see cref="StorageOptions.MinorCompactionThreshold"/> once
/// <see cref="StorageOptions.MinorCompactionInterval"/> has passed since the last compaction, else only deletes
/// fully dead logs. A <see cref="GcTrigger.Forced"/> pass always compacts at the major threshold.</para>
/// Thread-safe: every step runs under the storage's maintenance lock, one entry log per turn, so flushes (and thus
/// adds) never wait for a whole pass; overlapping passes find logs already collected gone.
/// </summary>
internal sealed class GarbageCollector
{
    /// <summary>Ledgers deleted per journal group and index batch.</summary>
    private const int DeleteBatch = 1000;

    private readonly LedgerStorage _storage;
    private readonly StorageOptions _options;
    private readonly LedgerIndex _index;
    private readonly EntryLogger _entryLogger;
    private readonly EntryLogUsage _usage;
    private readonly EntryLogCompactor _compactor;
    private readonly ILogger _logger;
    private readonly Func<long, bool> _isStored;
    private readonly List<long> _liveLedgers = new();
    private long _lastMinorTicks;
    private long _lastMajorTicks;

    public GarbageCollector(LedgerStorage storage, StorageOptions options, LedgerIndex index, EntryLogger entryLogger,
        EntryLogUsage usage, ILogger logger)
    {
        _storage = storage;
        _options = options;
        _index = index;
        _entryLogger = entryLogger;
        _usage = usage;
        _logger = logger;
        _compactor = new EntryLogCompactor(index, entryLogger, usage, logger);
        _isStored = storage.IsStored;
        // As BookKeeper: the compaction intervals count from start-up.
        _lastMinorTicks = _lastMajorTicks = Environment.TickCount64;
    }

    /// <summary>One pass; see the class summary.</summary>
    public async ValueTask<GcResult> CollectAsync(Func<long, bool> isLive, GcTrigger trigger, CancellationToken ct)
    {
        var dead = new List<long>();
        foreach (long ledgerId in _storage.ListLedgers())
        {
            if (!isLive(ledgerId))
            {
                dead.Add(ledgerId);
            }
        }
        int ledgersDeleted = 0;
        for (int start = 0; start < dead.Count; start += DeleteBatch)
        {
            ct.ThrowIfCancellationRequested();
            ledgersDeleted += await _storage.DeleteLedgersAsync(dead.GetRange(start, Math.Min(DeleteBatch, dead.Count - start)), ct)
                .ConfigureAwait(false);
        }

        (double threshold, string compaction) = ChooseCompaction(trigger);
        List<(long LogId, long Bytes)> sealedLogs;
        using (await _storage.EnterMaintenanceAsync(ct).ConfigureAwait(false))
        {
            RollCurrentLogIfDead(threshold);
            sealedLogs = _entryLogger.SealedLogs();
            ForgetUsageOfMissingLogs(sealedLogs);
        }

        int compacted = 0;
        int deleted = 0;
        long reclaimed = 0;
        foreach ((long logId, long logBytes) in sealedLogs)
        {
            using (await _storage.EnterMaintenanceAsync(ct).ConfigureAwait(false))
            {
                long live = _usage.LiveBytes(logId, _isStored, _liveLedgers);
                if (live == 0)
                {
                    DeleteDeadLog(logId);
                    deleted++;
                    reclaimed += logBytes;
                }
                else if ((double)live / Math.Max(1, logBytes) < threshold)
                {
                    long copied = _compactor.Compact(logId, _liveLedgers);
                    if (copied >= 0)
                    {
                        compacted++;
                        reclaimed += logBytes - copied;
                    }
                }
            }
        }
        _logger.LogInformation(
            "Garbage collection ({Compaction}): {LedgersDeleted} ledgers deleted, {Compacted} entry logs compacted, {Deleted} deleted, {BytesReclaimed} bytes reclaimed",
            compaction, ledgersDeleted, compacted, deleted, reclaimed);
        return new GcResult(ledgersDeleted, compacted, deleted, reclaimed);
    }

    /// <summary>The live-fraction threshold below which this pass compacts a log (0: none), and its name for the log.</summary>
    private (double Threshold, string Name) ChooseCompaction(GcTrigger trigger)
    {
        long now = Environment.TickCount64;
        if (trigger == GcTrigger.Forced || now - _lastMajorTicks >= (long)_options.MajorCompactionInterval.TotalMilliseconds)
        {
            _lastMajorTicks = _lastMinorTicks = now;
            return (_options.CompactionThreshold, "major");
        }
        if (now - _lastMinorTicks >= (long)_options.MinorCompactionInterval.TotalMilliseconds)
        {
            _lastMinorTicks = now;
            return (_options.MinorCompactionThreshold, "minor");
        }
        return (0, "dead logs only");
    }

    /// <summary>
    /// Rolls the current log when it holds bytes and none of them, or less than <paramref name="threshold"/> of them,
    /// are live, so this pass can delete or compact it. Caller holds the maintenance lock.
    /// </summary>
    private void RollCurrentLogIfDead(double threshold)
    {
        long logId = _entryLogger.CurrentLogId;
        long length = _entryLogger.CurrentLength;
        if (length == 0)
        {
            return;
        }
        long live = _usage.LiveBytes(logId, _isStored, _liveLedgers);
        if (live == 0 || (double)live / length < threshold)
        {
            _entryLogger.RollNow();
            _logger.LogDebug("Rolled entry log {EntryLogId:x} for collection: {LiveBytes} of {Bytes} bytes live", logId, live, length);
        }
    }

    /// <summary>Deletes a log without live bytes: its usage record first, then the file. Caller holds the maintenance lock.</summary>
    private void DeleteDeadLog(long logId)
    {
        using (WriteBatch batch = _index.NewBatch())
        {
            _usage.DeleteRecord(batch, logId);
            _index.Write(batch);
        }
        _usage.Remove(logId);
        _entryLogger.Delete(logId);
    }

    /// <summary>Drops usage records of entry logs whose files are gone (a crash between the index update and the delete).</summary>
    private void ForgetUsageOfMissingLogs(List<(long LogId, long Bytes)> sealedLogs)
    {
        var existing = new HashSet<long>(sealedLogs.Count + 1) { _entryLogger.CurrentLogId };
        foreach ((long logId, _) in sealedLogs)
        {
            existing.Add(logId);
        }
        List<long> missing = _usage.LogsNotIn(existing);
        if (missing.Count == 0)
        {
            return;
        }
        using WriteBatch batch = _index.NewBatch();
        foreach (long logId in missing)
        {
            _usage.DeleteRecord(batch, logId);
        }
        _index.Write(batch);
        foreach (long logId in missing)
        {
            _usage.Remove(logId);
        }
    }
}
