using System.Buffers;
using System.Diagnostics;

namespace Pulsarish.Bookie.Storage;

/// <summary>
/// The write cache (DESIGN.md §5): two halves of <see cref="StorageOptions.WriteCacheMaxBytes"/>/2 each, one active
/// (taking adds) and one flushing. Entries are looked up in both. <see cref="TrySwap"/> turns the active half into
/// the flushing one; <see cref="CompleteFlush"/> empties it again. When the active half is full and the other is
/// still flushing, adds fail with a task to await (back-pressure; nothing grows without bound). Thread-safe.
/// </summary>
internal sealed class WriteCache
{
    private readonly object _lock = new();
    private readonly int _halfBytes;
    private Half _active;
    private Half _flushing;
    private bool _flushingBusy;
    private JournalPosition _flushingMark;
    private TaskCompletionSource _space = NewSpaceSignal();
    private bool _closed;

    public WriteCache(long maxBytes)
    {
        _halfBytes = (int)(maxBytes / 2);
        _active = new Half();
        _flushing = new Half();
    }

    /// <summary>Bytes held in both halves.</summary>
    public long Bytes
    {
        get
        {
            lock (_lock)
            {
                long bytes = _active.Used + (_flushingBusy ? _flushing.Used : 0);
                Debug.Assert(bytes >= 0 && bytes <= 2L * _halfBytes, "write cache size outside 0..WriteCacheMaxBytes");
                return bytes;
            }
        }
    }

    /// <summary>Entries in the active half.</summary>
    public int ActiveCount
    {
        get
        {
            lock (_lock)
            {
                return _active.Index.Count;
            }
        }
    }

    /// <summary>
    /// Copies the entry into the active half (a later add of the same key wins). Returns false when the active half
    /// is full; then <paramref name="spaceAvailable"/> completes at the next swap and the caller should ask for a flush.
    /// </summary>
    public bool TryAdd(long ledgerId, long entryId, ReadOnlySpan<byte> data, out Task spaceAvailable)
    {
        Debug.Assert(data.Length <= _halfBytes, "entry larger than a write cache half");
        lock (_lock)
        {
            if (_active.Used + data.Length > _halfBytes || _closed)
            {
                spaceAvailable = _space.Task;
                return false;
            }
            _active.Buffer ??= GC.AllocateUninitializedArray<byte>(_halfBytes);
            data.CopyTo(_active.Buffer.AsSpan(_active.Used));
            _active.Index[new EntryKey(ledgerId, entryId)] = new Slot(_active.Used, data.Length);
            _active.Used += data.Length;
            // Bounded by its configured size: a half never holds more than WriteCacheMaxBytes / 2 (DESIGN §5).
            Debug.Assert(_active.Used >= data.Length && _active.Used <= _halfBytes, "active half outside 0..WriteCacheMaxBytes/2");
        }
        spaceAvailable = Task.CompletedTask;
        return true;
    }

    /// <summary>A fresh copy of the entry if either half holds it.</summary>
    public bool TryGet(long ledgerId, long entryId, out byte[]? data)
    {
        var key = new EntryKey(ledgerId, entryId);
        lock (_lock)
        {
            if (_active.Index.TryGetValue(key, out Slot slot))
            {
                data = _active.Buffer.AsSpan(slot.Offset, slot.Length).ToArray();
                return true;
            }
            if (_flushingBusy && _flushing.Index.TryGetValue(key, out slot))
            {
                data = _flushing.Buffer.AsSpan(slot.Offset, slot.Length).ToArray();
                return true;
            }
        }
        data = null;
        return false;
    }

    /// <summary>
    /// Makes the active half the flushing one and hands out its entries sorted by (ledgerId, entryId), together with
    /// the journal position read at the swap, under the same lock as adds. Because every entry enters the cache
    /// before its journal record is written, every record before that mark is in the returned batch (or was flushed
    /// earlier): the mark is a valid checkpoint once the batch is durable. If the previous flush failed, its batch is
    /// handed out again. Only one flush may be in progress (the caller serializes).
    /// </summary>
    public FlushBatch TrySwap(Journal? journal)
    {
        Half flushing;
        JournalPosition mark;
        lock (_lock)
        {
            if (!_flushingBusy)
            {
                // The half that becomes active was emptied by the last CompleteFlush (DESIGN §5: a flushed half is empty).
                Debug.Assert(_flushing.Used == 0 && _flushing.Index.Count == 0, "swapping in a half that still holds entries");
                _flushingMark = journal?.WrittenPosition ?? default;
                (_active, _flushing) = (_flushing, _active);
                _flushingBusy = true;
                TaskCompletionSource space = _space;
                _space = NewSpaceSignal();
                space.TrySetResult();
            }
            flushing = _flushing;
            mark = _flushingMark;
        }
        // The flushing half is not mutated until CompleteFlush, so it is sorted outside the lock.
        return new FlushBatch(flushing, mark);
    }

    /// <summary>Empties the flushing half after its batch became durable in the entry log and index.</summary>
    public void CompleteFlush()
    {
        lock (_lock)
        {
            Debug.Assert(_flushingBusy, "flush completed without a swap");
            AssertSizes(_flushing);
            _flushing.Index.Clear();
            _flushing.Used = 0;
            _flushingBusy = false;
            AssertSizes(_active);
        }
    }

    /// <summary>Refuses further adds: adders waiting for space (and later ones) fail with <see cref="ObjectDisposedException"/>.</summary>
    public void Close()
    {
        lock (_lock)
        {
            _closed = true;
            _space.TrySetException(new ObjectDisposedException(nameof(LedgerStorage)));
        }
    }

    /// <summary>
    /// Sizes never negative and bounded by the half: every slot lies inside the used bytes, which stay within the
    /// half (a re-added key leaves its old bytes behind, so slots may sum to less than <see cref="Half.Used"/>).
    /// </summary>
    [Conditional("DEBUG")]
    private void AssertSizes(Half half)
    {
        Debug.Assert(half.Used >= 0 && half.Used <= _halfBytes, "half size outside 0..WriteCacheMaxBytes/2");
        long slotBytes = 0;
        foreach (Slot slot in half.Index.Values)
        {
            Debug.Assert(slot.Offset >= 0 && slot.Length >= 0 && slot.Offset + slot.Length <= half.Used, "slot outside the used bytes");
            slotBytes += slot.Length;
        }
        Debug.Assert(slotBytes <= half.Used, "slots hold more bytes than the half used");
    }

    private static TaskCompletionSource NewSpaceSignal() => new(TaskCreationOptions.RunContinuationsAsynchronously);

    internal readonly struct Slot(int offset, int length)
    {
        public readonly int Offset = offset;
        public readonly int Length = length;
    }

    internal sealed class Half
    {
        public byte[]? Buffer;
        public int Used;
        public readonly Dictionary<EntryKey, Slot> Index = new();
    }

    /// <summary>The sorted content of the flushing half; valid until <see cref="CompleteFlush"/>. Dispose returns the pooled key array.</summary>
    internal readonly struct FlushBatch : IDisposable
    {
        private readonly Half _half;
        private readonly KeyValuePair<EntryKey, Slot>[] _items;

        public FlushBatch(Half half, JournalPosition mark)
        {
            _half = half;
            Mark = mark;
            Count = half.Index.Count;
            _items = ArrayPool<KeyValuePair<EntryKey, Slot>>.Shared.Rent(Math.Max(1, Count));
            int i = 0;
            foreach (KeyValuePair<EntryKey, Slot> pair in half.Index)
            {
                _items[i++] = pair;
            }
            Array.Sort(_items, 0, Count, SlotOrder.Instance);
            AssertSorted(_items, Count);
        }

        public JournalPosition Mark { get; }

        public int Count { get; }

        public EntryKey KeyAt(int i) => _items[i].Key;

        public ReadOnlySpan<byte> DataAt(int i) => _half.Buffer.AsSpan(_items[i].Value.Offset, _items[i].Value.Length);

        public void Dispose() => ArrayPool<KeyValuePair<EntryKey, Slot>>.Shared.Return(_items, clearArray: false);

        /// <summary>Flushed in (ledgerId, entryId) order, each key once (DESIGN §5): the entry log gets each ledger's entries together.</summary>
        [Conditional("DEBUG")]
        private static void AssertSorted(KeyValuePair<EntryKey, Slot>[] items, int count)
        {
            for (int i = 1; i < count; i++)
            {
                Debug.Assert(items[i - 1].Key.CompareTo(items[i].Key) < 0, "flush batch not strictly ordered by (ledgerId, entryId)");
            }
        }
    }

    private sealed class SlotOrder : IComparer<KeyValuePair<EntryKey, Slot>>
    {
        public static readonly SlotOrder Instance = new();

        public int Compare(KeyValuePair<EntryKey, Slot> x, KeyValuePair<EntryKey, Slot> y) => x.Key.CompareTo(y.Key);
    }
}
