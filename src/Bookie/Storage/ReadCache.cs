namespace Pulsarish.Bookie.Storage;

/// <summary>
/// The read cache (DESIGN.md §5), like BookKeeper's: a ring of fixed segments filled in order; when the ring wraps,
/// the oldest segment and everything indexed in it is dropped. Total bytes are bounded by
/// <see cref="StorageOptions.ReadCacheMaxBytes"/>. Entries larger than a segment are not cached. Thread-safe.
/// </summary>
internal sealed class ReadCache
{
    private const int MaxSegmentBytes = 8 * 1024 * 1024;

    private readonly object _lock = new();
    private readonly int _segmentBytes;
    private readonly byte[]?[] _segments;
    private readonly List<EntryKey>[] _keysBySegment;
    private readonly Dictionary<EntryKey, (int Segment, int Offset, int Length)> _index = new();
    private int _segment;
    private int _used;
    private long _hits;
    private long _misses;

    public ReadCache(long maxBytes)
    {
        _segmentBytes = (int)Math.Min(maxBytes, MaxSegmentBytes);
        int count = _segmentBytes == 0 ? 0 : (int)Math.Max(1, maxBytes / _segmentBytes);
        _segments = new byte[]?[count];
        _keysBySegment = new List<EntryKey>[count];
        for (int i = 0; i < count; i++)
        {
            _keysBySegment[i] = new List<EntryKey>();
        }
    }

    public long Hits => Interlocked.Read(ref _hits);

    public long Misses => Interlocked.Read(ref _misses);

    /// <summary>Bytes currently cached.</summary>
    public long Bytes
    {
        get
        {
            lock (_lock)
            {
                long total = 0;
                foreach (var slot in _index.Values)
                {
                    total += slot.Length;
                }
                return total;
            }
        }
    }

    public bool TryGet(long ledgerId, long entryId, out byte[]? data)
    {
        lock (_lock)
        {
            if (_index.TryGetValue(new EntryKey(ledgerId, entryId), out var slot))
            {
                data = _segments[slot.Segment].AsSpan(slot.Offset, slot.Length).ToArray();
                _hits++;
                return true;
            }
            _misses++;
        }
        data = null;
        return false;
    }

    public void Put(long ledgerId, long entryId, ReadOnlySpan<byte> data)
    {
        if (data.Length > _segmentBytes || _segments.Length == 0)
        {
            return;
        }
        var key = new EntryKey(ledgerId, entryId);
        lock (_lock)
        {
            if (_index.ContainsKey(key))
            {
                return;
            }
            if (_used + data.Length > _segmentBytes)
            {
                _segment = (_segment + 1) % _segments.Length;
                _used = 0;
                List<EntryKey> evicted = _keysBySegment[_segment];
                foreach (EntryKey old in evicted)
                {
                    if (_index.TryGetValue(old, out var slot) && slot.Segment == _segment)
                    {
                        _index.Remove(old);
                    }
                }
                evicted.Clear();
            }
            byte[] segment = _segments[_segment] ??= GC.AllocateUninitializedArray<byte>(_segmentBytes);
            data.CopyTo(segment.AsSpan(_used));
            _index[key] = (_segment, _used, data.Length);
            _keysBySegment[_segment].Add(key);
            _used += data.Length;
        }
    }

    /// <summary>Drops one entry (it was rewritten).</summary>
    public void Invalidate(long ledgerId, long entryId)
    {
        lock (_lock)
        {
            _index.Remove(new EntryKey(ledgerId, entryId));
        }
    }

    /// <summary>Drops every entry of a flushed batch: a rewrite (last write wins) must not be shadowed by an old copy.</summary>
    public void Invalidate(in WriteCache.FlushBatch batch)
    {
        lock (_lock)
        {
            if (_index.Count == 0)
            {
                return;
            }
            for (int i = 0; i < batch.Count; i++)
            {
                _index.Remove(batch.KeyAt(i));
            }
        }
    }
}
