using System.Diagnostics;

namespace Pulsarish.Broker.Dispatch;

/// <summary>
/// A binary min-heap of <see cref="DelayedIndexEntry"/> structs in one array that grows by doubling up to a fixed
/// capacity (the tracker's in-memory bound). Not thread-safe.
/// </summary>
internal sealed class DelayedIndexHeap(int capacity)
{
    private DelayedIndexEntry[] _items = new DelayedIndexEntry[Math.Min(capacity, 1024)];
    private int _count;

    public int Count => _count;

    public int Capacity { get; } = capacity;

    public bool IsFull => _count >= Capacity;

    /// <summary>Bytes of the backing array (what this heap holds in memory).</summary>
    public long AllocatedBytes => (long)_items.Length * DelayedIndexEntry.Size;

    public DelayedIndexEntry Min
    {
        get
        {
            Debug.Assert(_count > 0);
            return _items[0];
        }
    }

    public void Push(DelayedIndexEntry item)
    {
        Debug.Assert(_count < Capacity, "the tracker spills before the heap is full");
        if (_count == _items.Length)
        {
            Array.Resize(ref _items, (int)Math.Min(Capacity, (long)_items.Length * 2));
        }
        int i = _count++;
        while (i > 0)
        {
            int parent = (i - 1) >> 1;
            if (_items[parent].CompareTo(item) <= 0)
            {
                break;
            }
            _items[i] = _items[parent];
            i = parent;
        }
        _items[i] = item;
    }

    public DelayedIndexEntry Pop()
    {
        Debug.Assert(_count > 0);
        var min = _items[0];
        var last = _items[--_count];
        int i = 0;
        while (true)
        {
            int child = 2 * i + 1;
            if (child >= _count)
            {
                break;
            }
            if (child + 1 < _count && _items[child + 1].CompareTo(_items[child]) < 0)
            {
                child++;
            }
            if (last.CompareTo(_items[child]) <= 0)
            {
                break;
            }
            _items[i] = _items[child];
            i = child;
        }
        if (_count > 0)
        {
            _items[i] = last;
        }
        return min;
    }

    /// <summary>
    /// Sorts the heap by time (a sorted array is a valid min-heap) and returns its latest-due <paramref name="count"/>
    /// entries for the caller to seal; <see cref="DropLatest"/> removes them once sealed.
    /// </summary>
    public ReadOnlySpan<DelayedIndexEntry> SortAndPeekLatest(int count)
    {
        Debug.Assert(count <= _count);
        var live = _items.AsSpan(0, _count);
        live.Sort();
        return live.Slice(_count - count, count);
    }

    /// <summary>Removes the latest-due <paramref name="count"/> entries after <see cref="SortAndPeekLatest"/>.</summary>
    public void DropLatest(int count)
    {
        Debug.Assert(count <= _count);
        _count -= count;
    }

    public void Clear()
    {
        _count = 0;
        if (_items.Length > 1024)
        {
            _items = new DelayedIndexEntry[1024];
        }
    }
}
