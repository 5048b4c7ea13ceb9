using System.Diagnostics;
using Pulsarish.Broker.Topics;

namespace Pulsarish.Broker.Dispatch;

/// <summary>
/// The delayed entries of a Shared or Key_Shared subscription, by delivery time (Pulsar's DelayedDeliveryTracker):
/// the dispatcher adds an entry read before its time and takes it back, into the replay set, once due. The index is
/// bounded: at most <c>maxIndexedMessages</c> entries in a compact in-memory heap of packed structs; when it is full
/// its later-due half is sealed into a time-sorted run on a local file (<see cref="DelayedSpillRun"/>) of which only
/// the next segment is in memory, and runs beyond <c>maxRuns</c> are merged into one (Pulsar's bucket tracker seals
/// buckets to snapshots and loads only their next segment the same way). The index is derived data: the entries and
/// their delivery times are in the topic's log, so a new owner rebuilds it by reading the unacknowledged entries from
/// the mark-delete position, as every dispatcher does when it starts. Not thread-safe: the subscription's lock guards it.
/// </summary>
public sealed class DelayedDeliveryTracker : IDisposable
{
    private readonly DelayedIndexHeap _heap;
    private readonly List<DelayedSpillRun> _runs = new();
    private readonly string _spillDirectory;
    private readonly int _segmentEntries;
    private readonly int _maxRuns;

    public DelayedDeliveryTracker(int maxIndexedMessages, string spillDirectory, int segmentEntries, int maxRuns)
    {
        Debug.Assert(maxIndexedMessages >= 1 && segmentEntries >= 1 && maxRuns >= 1);
        _heap = new DelayedIndexHeap(maxIndexedMessages);
        _spillDirectory = spillDirectory;
        _segmentEntries = segmentEntries;
        _maxRuns = maxRuns;
    }

    /// <summary>Delayed entries held (in memory and spilled).</summary>
    public long Count
    {
        get
        {
            long count = _heap.Count;
            foreach (var run in _runs)
            {
                count += run.Count;
            }
            return count;
        }
    }

    /// <summary>Entries held in the in-memory heap.</summary>
    public int IndexedInMemory => _heap.Count;

    /// <summary>Sealed runs on files.</summary>
    public int SpilledRuns => _runs.Count;

    /// <summary>
    /// Bytes of index held in memory: the heap's array and each run's loaded segment. Bounded by
    /// (maxIndexedMessages + (maxRuns + 1) × segmentEntries) × 24.
    /// </summary>
    public long AllocatedBytes
    {
        get
        {
            long bytes = _heap.AllocatedBytes;
            foreach (var run in _runs)
            {
                bytes += run.AllocatedBytes;
            }
            return bytes;
        }
    }

    /// <summary>Delivery time of the earliest-due entry, or <see cref="long.MaxValue"/> when none.</summary>
    public long NextDeliverAtMillis
    {
        get
        {
            long next = _heap.Count > 0 ? _heap.Min.DeliverAtMillis : long.MaxValue;
            foreach (var run in _runs)
            {
                next = Math.Min(next, run.Head.DeliverAtMillis);
            }
            return next;
        }
    }

    /// <summary>
    /// Holds the entry at <paramref name="position"/> until <paramref name="deliverAtMillis"/> (Unix ms). An
    /// <see cref="IOException"/> of a run file may leave entries out of the index: the caller clears it and rebuilds
    /// it from the log (the same for <see cref="TakeDue"/>).
    /// </summary>
    public void Add(Position position, long deliverAtMillis)
    {
        if (_heap.IsFull)
        {
            Spill();
        }
        _heap.Push(new DelayedIndexEntry(deliverAtMillis, position.LedgerId, position.EntryId));
    }

    /// <summary>
    /// Moves up to <paramref name="max"/> entries due at <paramref name="nowMillis"/> into <paramref name="due"/>, in
    /// delivery-time order. Never an entry before its time.
    /// </summary>
    public int TakeDue(long nowMillis, int max, List<Position> due)
    {
        int taken = 0;
        while (taken < max)
        {
            const int None = -2, Heap = -1; // else: the index of a run
            int source = None;
            DelayedIndexEntry best = default;
            if (_heap.Count > 0)
            {
                source = Heap;
                best = _heap.Min;
            }
            for (int i = 0; i < _runs.Count; i++)
            {
                var head = _runs[i].Head;
                if (source == None || head.CompareTo(best) < 0)
                {
                    source = i;
                    best = head;
                }
            }
            if (source == None || best.DeliverAtMillis > nowMillis)
            {
                break;
            }
            DelayedIndexEntry entry;
            if (source == Heap)
            {
                entry = _heap.Pop();
            }
            else
            {
                entry = _runs[source].Take();
                if (_runs[source].IsEmpty)
                {
                    _runs[source].Dispose();
                    _runs.RemoveAt(source);
                }
            }
            Debug.Assert(entry.DeliverAtMillis <= nowMillis, "never an entry before its time");
            due.Add(entry.Position);
            taken++;
        }
        return taken;
    }

    /// <summary>Seek/reset, or the subscription's type no longer delays: nothing is held.</summary>
    public void Clear()
    {
        _heap.Clear();
        foreach (var run in _runs)
        {
            run.Dispose();
        }
        _runs.Clear();
    }

    /// <summary>Seals the later-due half of the full heap into a run file; merges the runs beyond the bound.</summary>
    private void Spill()
    {
        int count = Math.Max(1, _heap.Count / 2);
        _runs.Add(DelayedSpillRun.Write(_spillDirectory, _heap.SortAndPeekLatest(count), _segmentEntries));
        _heap.DropLatest(count);
        if (_runs.Count > _maxRuns)
        {
            var merged = DelayedSpillRun.Merge(_spillDirectory, _runs, _segmentEntries);
            _runs.Clear();
            _runs.Add(merged);
        }
    }

    public void Dispose() => Clear();
}
