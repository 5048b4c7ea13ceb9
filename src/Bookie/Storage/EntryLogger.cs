using Microsoft.Extensions.Logging;

namespace Pulsarish.Bookie.Storage;

/// <summary>
/// The set of entry logs in the ledgers directory: appends go to the current log, which is rolled at
/// <see cref="StorageOptions.EntryLogMaxFileBytes"/>; reads take a reference on the log they read so that
/// compaction never deletes a file under a reader. Appends, <see cref="Sync"/> and <see cref="Delete"/> are
/// called by one maintenance thread at a time (the flush/compaction lock of <see cref="LedgerStorage"/>);
/// <see cref="TryAcquire"/> is thread-safe.
/// </summary>
internal sealed class EntryLogger : IDisposable
{
    private readonly StorageOptions _options;
    private readonly ILogger _logger;
    private readonly Dictionary<long, EntryLog> _logs = new();
    private readonly object _lock = new();
    private readonly List<EntryLog> _rolledSinceSync = new();
    private EntryLog _current;

    public EntryLogger(StorageOptions options, ILogger logger)
    {
        _options = options;
        _logger = logger;
        Directory.CreateDirectory(options.LedgersDir);
        long lastId = 0;
        foreach (long id in EntryLog.ListFileIds(options.LedgersDir))
        {
            lastId = id;
            if (new FileInfo(EntryLog.PathOf(options.LedgersDir, id)).Length == 0)
            {
                // The current log of a run that never flushed: nothing to keep.
                File.Delete(EntryLog.PathOf(options.LedgersDir, id));
                continue;
            }
            _logs[id] = EntryLog.OpenForRead(options.LedgersDir, id);
        }
        _current = EntryLog.Create(options.LedgersDir, lastId + 1, options.DirectWrites);
        _logs[_current.Id] = _current;
    }

    /// <summary>Id of the log appends currently go to (never compacted).</summary>
    public long CurrentLogId => Volatile.Read(ref _current).Id;

    /// <summary>Bytes of the current log, including those still buffered.</summary>
    public long CurrentLength => _current.Length;

    /// <summary>
    /// Rolls the current log now, if it holds anything, and seals it (with every log rolled since the last sync), so
    /// that garbage collection can delete or compact it.
    /// </summary>
    public void RollNow()
    {
        if (_current.Length > 0)
        {
            Roll();
        }
        Sync();
    }

    /// <summary>Appends a record to the current log, rolling it first when it is full.</summary>
    public EntryLocation Append(long ledgerId, long entryId, ReadOnlySpan<byte> data)
    {
        if (_current.Length > 0 && _current.Length + EntryLog.HeaderBytes + data.Length > _options.EntryLogMaxFileBytes)
        {
            Roll();
        }
        return _current.Append(ledgerId, entryId, data);
    }

    /// <summary>Makes every appended record durable (the current log and any rolled since the last sync).</summary>
    public void Sync()
    {
        foreach (EntryLog rolled in _rolledSinceSync)
        {
            rolled.Seal();
        }
        _rolledSinceSync.Clear();
        _current.Sync();
    }

    private void Roll()
    {
        EntryLog next = EntryLog.Create(_options.LedgersDir, _current.Id + 1, _options.DirectWrites);
        _rolledSinceSync.Add(_current);
        lock (_lock)
        {
            _logs[next.Id] = next;
        }
        Volatile.Write(ref _current, next);
        _logger.LogDebug("Rolled entry log to {EntryLogId:x}", next.Id);
    }

    /// <summary>A referenced log to read from, or null when it does not exist (any more). Release it after use.</summary>
    public EntryLog? TryAcquire(long logId)
    {
        lock (_lock)
        {
            return _logs.TryGetValue(logId, out EntryLog? log) && log.TryAcquire() ? log : null;
        }
    }

    /// <summary>Ids and on-disk lengths of every log except the current one.</summary>
    public List<(long LogId, long Bytes)> SealedLogs()
    {
        var result = new List<(long, long)>();
        lock (_lock)
        {
            foreach (EntryLog log in _logs.Values)
            {
                if (log.Id != _current.Id)
                {
                    result.Add((log.Id, log.Length));
                }
            }
        }
        result.Sort();
        return result;
    }

    /// <summary>Number of entry log files.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _logs.Count;
            }
        }
    }

    /// <summary>Forgets a sealed log; its file is deleted once the last reader releases it.</summary>
    public void Delete(long logId)
    {
        EntryLog? log;
        lock (_lock)
        {
            if (logId == _current.Id || !_logs.Remove(logId, out log))
            {
                return;
            }
        }
        _rolledSinceSync.Remove(log);
        log.MarkDeletedAndRelease();
        _logger.LogInformation("Deleted entry log {EntryLogId:x}", logId);
    }

    /// <summary>Test hook for crash simulation: closes every file without syncing buffered appends.</summary>
    public void Abandon()
    {
        lock (_lock)
        {
            foreach (EntryLog log in _logs.Values)
            {
                log.Abandon();
            }
            _logs.Clear();
        }
    }

    public void Dispose()
    {
        Sync();
        lock (_lock)
        {
            foreach (EntryLog log in _logs.Values)
            {
                log.Release();
            }
            _logs.Clear();
        }
    }
}
