using System.Diagnostics;

namespace Pulsarish.Broker.Topics;

/// <summary>
/// A set of positions stored as disjoint, non-adjacent ranges of entry ids per ledger (Pulsar's individually deleted
/// ranges): memory grows with the number of gaps, not with the number of acknowledged entries. Not thread-safe (the
/// cursor guards it).
/// </summary>
public sealed class PositionRangeSet
{
    /// <summary>Inclusive range of entry ids of one ledger.</summary>
    public readonly record struct EntryRange(long First, long Last);

    private readonly SortedDictionary<long, List<EntryRange>> _ledgers = new();

    /// <summary>Number of positions in the set.</summary>
    public long Count { get; private set; }

    /// <summary>Number of ranges (gaps + 1) in the set.</summary>
    public int RangeCount
    {
        get
        {
            int count = 0;
            foreach (var ranges in _ledgers.Values)
            {
                count += ranges.Count;
            }
            return count;
        }
    }

    /// <summary>Index of the last range whose First ≤ entryId, or -1.</summary>
    private static int Floor(List<EntryRange> ranges, long entryId)
    {
        int lo = 0, hi = ranges.Count - 1, found = -1;
        while (lo <= hi)
        {
            int mid = (lo + hi) >>> 1;
            if (ranges[mid].First <= entryId)
            {
                found = mid;
                lo = mid + 1;
            }
            else
            {
                hi = mid - 1;
            }
        }
        return found;
    }

    /// <summary>
    /// The set's shape around <paramref name="index"/>: a range is not empty, and it lies after its left neighbour
    /// and before its right one with at least one missing entry between (disjoint, sorted, non-adjacent).
    /// </summary>
    [Conditional("DEBUG")]
    private static void AssertSeparated(List<EntryRange> ranges, int index)
    {
        var r = ranges[index];
        Debug.Assert(r.First >= 0 && r.First <= r.Last, $"empty or negative range {r.First}..{r.Last}");
        Debug.Assert(index == 0 || ranges[index - 1].Last + 1 < r.First, $"range {r.First}..{r.Last} touches the one before");
        Debug.Assert(index + 1 == ranges.Count || r.Last + 1 < ranges[index + 1].First, $"range {r.First}..{r.Last} touches the one after");
    }

    public bool Contains(Position position)
    {
        if (!_ledgers.TryGetValue(position.LedgerId, out var ranges))
        {
            return false;
        }
        int i = Floor(ranges, position.EntryId);
        return i >= 0 && ranges[i].Last >= position.EntryId;
    }

    /// <summary>When <paramref name="position"/> is in the set: the last entry id of its range.</summary>
    public bool TryGetRangeEnd(Position position, out long lastEntryId)
    {
        lastEntryId = -1;
        if (!_ledgers.TryGetValue(position.LedgerId, out var ranges))
        {
            return false;
        }
        int i = Floor(ranges, position.EntryId);
        if (i < 0 || ranges[i].Last < position.EntryId)
        {
            return false;
        }
        lastEntryId = ranges[i].Last;
        return true;
    }

    /// <summary>Adds a position; false when it was already present.</summary>
    public bool Add(Position position)
    {
        Debug.Assert(position.EntryId >= 0);
        if (!_ledgers.TryGetValue(position.LedgerId, out var ranges))
        {
            ranges = new List<EntryRange>();
            _ledgers[position.LedgerId] = ranges;
        }
        long e = position.EntryId;
        int i = Floor(ranges, e);
        if (i >= 0 && ranges[i].Last >= e)
        {
            return false;
        }
        bool joinsLeft = i >= 0 && ranges[i].Last == e - 1;
        bool joinsRight = i + 1 < ranges.Count && ranges[i + 1].First == e + 1;
        int changed;
        if (joinsLeft && joinsRight)
        {
            ranges[i] = new EntryRange(ranges[i].First, ranges[i + 1].Last);
            ranges.RemoveAt(i + 1);
            changed = i;
        }
        else if (joinsLeft)
        {
            ranges[i] = new EntryRange(ranges[i].First, e);
            changed = i;
        }
        else if (joinsRight)
        {
            ranges[i + 1] = new EntryRange(e, ranges[i + 1].Last);
            changed = i + 1;
        }
        else
        {
            ranges.Insert(i + 1, new EntryRange(e, e));
            changed = i + 1;
        }
        AssertSeparated(ranges, changed);
        Count++;
        return true;
    }

    /// <summary>Adds every entry of <paramref name="first"/>..<paramref name="last"/> in one ledger, merging ranges.</summary>
    public void AddRange(long ledgerId, long first, long last)
    {
        if (last < first)
        {
            return;
        }
        Debug.Assert(first >= 0);
        if (!_ledgers.TryGetValue(ledgerId, out var ranges))
        {
            ranges = new List<EntryRange>();
            _ledgers[ledgerId] = ranges;
        }
        int i = Floor(ranges, first - 1);
        int start = i >= 0 && ranges[i].Last >= first - 1 ? i : i + 1;
        long mergedFirst = first, mergedLast = last, absorbed = 0;
        int end = start;
        while (end < ranges.Count && ranges[end].First <= last + 1)
        {
            mergedFirst = Math.Min(mergedFirst, ranges[end].First);
            mergedLast = Math.Max(mergedLast, ranges[end].Last);
            absorbed += ranges[end].Last - ranges[end].First + 1;
            end++;
        }
        ranges.RemoveRange(start, end - start);
        ranges.Insert(start, new EntryRange(mergedFirst, mergedLast));
        AssertSeparated(ranges, start);
        Count += mergedLast - mergedFirst + 1 - absorbed;
    }

    /// <summary>The first range (its ledger and entries), or null when empty.</summary>
    public (long LedgerId, EntryRange Range)? FirstRange
    {
        get
        {
            foreach (var (ledgerId, ranges) in _ledgers)
            {
                if (ranges.Count > 0)
                {
                    return (ledgerId, ranges[0]);
                }
            }
            return null;
        }
    }

    /// <summary>Removes every position ≤ <paramref name="upTo"/>.</summary>
    public void RemoveUpTo(Position upTo)
    {
        List<long>? emptied = null;
        foreach (var (ledgerId, ranges) in _ledgers)
        {
            if (ledgerId > upTo.LedgerId)
            {
                break;
            }
            if (ledgerId < upTo.LedgerId)
            {
                foreach (var r in ranges)
                {
                    Count -= r.Last - r.First + 1;
                }
                (emptied ??= new()).Add(ledgerId);
                continue;
            }
            while (ranges.Count > 0 && ranges[0].First <= upTo.EntryId)
            {
                Debug.Assert(ranges[0].First <= ranges[0].Last);
                var r = ranges[0];
                if (r.Last <= upTo.EntryId)
                {
                    Count -= r.Last - r.First + 1;
                    ranges.RemoveAt(0);
                }
                else
                {
                    Count -= upTo.EntryId - r.First + 1;
                    ranges[0] = new EntryRange(upTo.EntryId + 1, r.Last);
                }
            }
            if (ranges.Count == 0)
            {
                (emptied ??= new()).Add(ledgerId);
            }
        }
        if (emptied is not null)
        {
            foreach (long id in emptied)
            {
                _ledgers.Remove(id);
            }
        }
        Debug.Assert(Count >= 0);
        Debug.Assert(FirstRange is not { } first || new Position(first.LedgerId, first.Range.First) > upTo, "nothing at or below the removal point is left");
    }

    public void Clear()
    {
        _ledgers.Clear();
        Count = 0;
    }

    /// <summary>The ranges in position order.</summary>
    public IEnumerable<(long LedgerId, EntryRange Range)> Ranges()
    {
        foreach (var (ledgerId, ranges) in _ledgers)
        {
            foreach (var r in ranges)
            {
                yield return (ledgerId, r);
            }
        }
    }
}
