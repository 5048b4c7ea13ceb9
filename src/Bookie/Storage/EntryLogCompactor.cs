using Microsoft.Extensions.Logging;
using Pulsarish.Protocol.Errors;
using RocksDbSharp;

namespace Pulsarish.Bookie.Storage;

/// <summary>
/// Compaction of one entry log (BookKeeper's EntryLogCompactor, DESIGN §5): the live entries (those the index still
/// points at in that log) are copied to the current log, which is fdatasync'd, the index locations and usage are
/// updated in one synchronous batch, and only then is the old file deleted. A crash before the batch leaves the old
/// log authoritative (the copies are dead bytes of the current log); after it, the old file is garbage that the next
/// pass deletes. Reads racing the move look the location up again (<see cref="LedgerStorage"/>'s read path).
/// Not thread-safe: called under the storage's maintenance lock.
/// </summary>
internal sealed class EntryLogCompactor(LedgerIndex index, EntryLogger entryLogger, EntryLogUsage usage, ILogger logger)
{
    private readonly List<(long EntryId, EntryLocation Location)> _locations = new();
    private readonly HashSet<long> _touchedLogs = new();

    /// <summary>
    /// Copies the entries of <paramref name="liveLedgers"/> in log <paramref name="logId"/> forward and deletes the log.
    /// Returns the bytes copied, or -1 when the log was kept (gone already, or a live entry fails its checksum).
    /// </summary>
    public long Compact(long logId, List<long> liveLedgers)
    {
        EntryLog? log = entryLogger.TryAcquire(logId);
        if (log is null)
        {
            return -1;
        }
        long copied = 0;
        _touchedLogs.Clear();
        try
        {
            using WriteBatch batch = index.NewBatch();
            foreach (long ledgerId in liveLedgers)
            {
                _locations.Clear();
                index.CollectLocationsInLog(ledgerId, logId, _locations);
                _locations.Sort(static (a, b) => a.Location.Offset.CompareTo(b.Location.Offset));
                foreach ((long entryId, EntryLocation old) in _locations)
                {
                    byte[] data = log.ReadEntry(old, ledgerId, entryId);
                    EntryLocation moved = entryLogger.Append(ledgerId, entryId, data);
                    index.PutLocation(batch, ledgerId, entryId, moved);
                    usage.Add(moved.LogId, ledgerId, moved.RecordBytes);
                    _touchedLogs.Add(moved.LogId);
                    copied += moved.RecordBytes;
                }
            }
            // The copies are durable before the index points at them.
            entryLogger.Sync();
            foreach (long touched in _touchedLogs)
            {
                usage.Save(batch, touched);
            }
            usage.DeleteRecord(batch, logId);
            index.Write(batch);
        }
        catch (CorruptDataException e)
        {
            logger.LogError(e, "Entry log {EntryLogId:x} has a corrupt live entry; it is kept and not compacted", logId);
            return -1;
        }
        finally
        {
            log.Release();
        }
        usage.Remove(logId);
        entryLogger.Delete(logId);
        return copied;
    }
}
