using System.Diagnostics;

namespace Pulsarish.Broker.Topics;

/// <summary>
/// The broker-wide tail cache of recently added entries, bounded in bytes
/// (<see cref="BrokerOptions.ManagedLedgerCacheSizeBytes"/>): dispatchers that keep up with producers are served
/// from memory, catch-up reads go to the bookies. Entries are evicted oldest-inserted first. Keys carry the id of the
/// managed-ledger instance, so entries of an unloaded topic simply age out. Thread-safe.
/// </summary>
public sealed class EntryCache
{
    private readonly object _lock = new();
    private readonly Dictionary<(long Owner, long LedgerId, long EntryId), ReadOnlyMemory<byte>> _entries = new();
    private readonly Queue<(long Owner, long LedgerId, long EntryId)> _order = new();
    private readonly long _maxBytes;
    private long _bytes;
    private long _hits;
    private long _misses;

    public EntryCache(long maxBytes)
    {
        ArgumentOutOfRangeException.ThrowIfNegative(maxBytes);
        _maxBytes = maxBytes;
    }

    public long SizeBytes { get { lock (_lock) { return _bytes; } } }
    public long Hits => Interlocked.Read(ref _hits);
    public long Misses => Interlocked.Read(ref _misses);

    /// <summary>Caches an entry (the caller gives up the buffer); entries larger than the bound are not cached.</summary>
    public void Insert(long owner, Position position, ReadOnlyMemory<byte> data)
    {
        if (data.Length > _maxBytes)
        {
            return;
        }
        lock (_lock)
        {
            var key = (owner, position.LedgerId, position.EntryId);
            if (!_entries.TryAdd(key, data))
            {
                return;
            }
            _order.Enqueue(key);
            _bytes += data.Length;
            while (_bytes > _maxBytes && _order.TryDequeue(out var oldest))
            {
                if (_entries.Remove(oldest, out var evicted))
                {
                    _bytes -= evicted.Length;
                }
            }
            Debug.Assert(_bytes >= 0 && _bytes <= _maxBytes);
        }
    }

    public bool TryGet(long owner, Position position, out ReadOnlyMemory<byte> data)
    {
        bool found;
        lock (_lock)
        {
            found = _entries.TryGetValue((owner, position.LedgerId, position.EntryId), out data);
        }
        Interlocked.Increment(ref found ? ref _hits : ref _misses);
        return found;
    }

    /// <summary>Drops the cached entries of one ledger of <paramref name="owner"/> (deleted ledgers).</summary>
    public void InvalidateLedger(long owner, long ledgerId)
    {
        lock (_lock)
        {
            foreach (var key in _order)
            {
                if (key.Owner == owner && key.LedgerId == ledgerId && _entries.Remove(key, out var evicted))
                {
                    _bytes -= evicted.Length;
                }
            }
        }
    }
}
