using RocksDbSharp;

namespace Pulsarish.Bookie.Storage;

/// <summary>
/// Bytes each ledger holds in each entry log (BookKeeper's EntryLogMetadataMap), persisted in the index's
/// <c>entrylogs</c> family so that garbage collection after a restart knows what every log holds. Flushes add to it,
/// ledger deletions remove from it, <see cref="GarbageCollector"/> reads it and <see cref="EntryLogCompactor"/> moves
/// bytes between logs. Not thread-safe: used under <see cref="LedgerStorage"/>'s maintenance lock (or in its
/// constructor). The in-memory map changes only after the index batch carrying the same change was written.
/// </summary>
internal sealed class EntryLogUsage
{
    private readonly LedgerIndex _index;
    private readonly Dictionary<long, Dictionary<long, long>> _logs;

    public EntryLogUsage(LedgerIndex index)
    {
        _index = index;
        _logs = index.LoadEntryLogUsage();
    }

    /// <summary>Counts <paramref name="bytes"/> of <paramref name="ledgerId"/> appended to log <paramref name="logId"/>.</summary>
    public void Add(long logId, long ledgerId, long bytes)
    {
        if (!_logs.TryGetValue(logId, out Dictionary<long, long>? perLedger))
        {
            perLedger = new Dictionary<long, long>();
            _logs[logId] = perLedger;
        }
        perLedger[ledgerId] = perLedger.GetValueOrDefault(ledgerId) + bytes;
    }

    /// <summary>Puts the log's current usage into <paramref name="batch"/>.</summary>
    public void Save(WriteBatch batch, long logId) => _index.PutEntryLogUsage(batch, logId, _logs[logId]);

    /// <summary>Puts the deletion of the log's usage record into <paramref name="batch"/>; call <see cref="Remove"/> once it is written.</summary>
    public void DeleteRecord(WriteBatch batch, long logId) => _index.DeleteEntryLogUsage(batch, logId);

    /// <summary>Forgets the log in memory (its index record was deleted).</summary>
    public void Remove(long logId) => _logs.Remove(logId);

    /// <summary>
    /// Bytes of the log that belong to ledgers <paramref name="isStored"/> accepts; their ids go to
    /// <paramref name="liveLedgers"/> (cleared first). A log this map does not know holds nothing live.
    /// </summary>
    public long LiveBytes(long logId, Func<long, bool> isStored, List<long> liveLedgers)
    {
        liveLedgers.Clear();
        long live = 0;
        if (_logs.TryGetValue(logId, out Dictionary<long, long>? perLedger))
        {
            foreach (KeyValuePair<long, long> pair in perLedger)
            {
                if (isStored(pair.Key))
                {
                    live += pair.Value;
                    liveLedgers.Add(pair.Key);
                }
            }
        }
        return live;
    }

    /// <summary>Removes the ledgers from every log's usage, the changed records going into <paramref name="batch"/>.</summary>
    public void RemoveLedgers(WriteBatch batch, IReadOnlyList<long> ledgerIds)
    {
        foreach (KeyValuePair<long, Dictionary<long, long>> log in _logs)
        {
            bool touched = false;
            foreach (long ledgerId in ledgerIds)
            {
                touched |= log.Value.Remove(ledgerId);
            }
            if (touched)
            {
                _index.PutEntryLogUsage(batch, log.Key, log.Value);
            }
        }
    }

    /// <summary>Ids of logs with a usage record that are not in <paramref name="existing"/>.</summary>
    public List<long> LogsNotIn(HashSet<long> existing)
    {
        var missing = new List<long>();
        foreach (long logId in _logs.Keys)
        {
            if (!existing.Contains(logId))
            {
                missing.Add(logId);
            }
        }
        return missing;
    }
}
