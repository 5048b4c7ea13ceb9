using System.Diagnostics;
using Pulsarish.Broker.Topics;

namespace Pulsarish.Broker.Dispatch;

/// <summary>
/// The entries of a subscription to dispatch again, replayed before new ones in position order (Pulsar's
/// "messagesToRedeliver"), and how often each entry was redelivered (Pulsar's InMemoryRedeliveryTracker; the count
/// goes out with every message of the entry). Key_Shared also parks here the entries whose consumer had no permits,
/// with their key, so a replay pass picks only those a consumer can take now. Not thread-safe: the subscription's
/// lock guards it. Survives a change of dispatcher (subscription type).
/// </summary>
internal sealed class RedeliveryTracker
{
    /// <summary>Bound of entries parked for redelivery before the dispatcher stops reading new ones.</summary>
    public const int MaxEntries = 10_000;

    private readonly SortedSet<Position> _toRedeliver = new();
    private readonly Dictionary<Position, int> _redeliveryCounts = new();
    private readonly Dictionary<Position, string> _parkedKeys = new();

    /// <summary>Entries waiting to be dispatched again.</summary>
    public int Count => _toRedeliver.Count;

    /// <summary>Entries scheduled for redelivery since the subscription started (stats).</summary>
    public long MessagesRedelivered { get; private set; }

    /// <summary>Whether the bound is reached: the dispatcher reads no new entries until replays drain.</summary>
    public bool IsFull => _toRedeliver.Count >= MaxEntries;

    public bool Contains(Position position) => _toRedeliver.Contains(position);

    /// <summary>Times the entry at <paramref name="position"/> was redelivered (0 for a first delivery).</summary>
    public int RedeliveryCount(Position position) => _redeliveryCounts.GetValueOrDefault(position);

    /// <summary>The entries to redeliver in position order (a struct enumerator, no extra allocation per pass).</summary>
    public SortedSet<Position>.Enumerator GetEnumerator() => _toRedeliver.GetEnumerator();

    /// <summary>
    /// Schedules a delivered entry again (negative ack, ack timeout, its consumer left, failover switch).
    /// <paramref name="countIt"/>: the consumer had it, so its redelivery count goes up.
    /// </summary>
    public void Schedule(Position position, bool countIt)
    {
        _toRedeliver.Add(position);
        if (countIt)
        {
            _redeliveryCounts[position] = _redeliveryCounts.GetValueOrDefault(position) + 1;
        }
        MessagesRedelivered++;
    }

    /// <summary>Key_Shared: parks a new entry whose consumer has no permits (replayed first, so per-key order holds).</summary>
    public void Park(Position position, string key)
    {
        Debug.Assert(!IsFull, "parking stays within MaxEntries");
        _toRedeliver.Add(position);
        _parkedKeys[position] = key;
    }

    /// <summary>A delayed entry fell due: replayed like a redelivery (it lies below the read position), not counted as one.</summary>
    public void ScheduleDue(Position position) => _toRedeliver.Add(position);

    /// <summary>Key_Shared: remembers the key of an entry to redeliver that its consumer could not take.</summary>
    public void SetParkedKey(Position position, string key)
    {
        Debug.Assert(_toRedeliver.Contains(position));
        _parkedKeys[position] = key;
    }

    public bool TryGetParkedKey(Position position, out string? key) => _parkedKeys.TryGetValue(position, out key);

    /// <summary>The entry went out again; its redelivery count stays for a later redelivery.</summary>
    public void Delivered(Position position)
    {
        _toRedeliver.Remove(position);
        _parkedKeys.Remove(position);
    }

    /// <summary>The entry is acknowledged or gone: nothing of it is kept.</summary>
    public void Forget(Position position)
    {
        Delivered(position);
        _redeliveryCounts.Remove(position);
    }

    /// <summary>Forgets every entry to redeliver at or before <paramref name="upTo"/> (cumulative ack, TTL).</summary>
    public void ForgetUpTo(Position upTo)
    {
        while (_toRedeliver.Count > 0 && _toRedeliver.Min <= upTo)
        {
            Forget(_toRedeliver.Min);
        }
    }

    /// <summary>Seek/reset: nothing is to be redelivered any more.</summary>
    public void Clear()
    {
        _toRedeliver.Clear();
        _parkedKeys.Clear();
        _redeliveryCounts.Clear();
    }

    /// <summary>Debug check: whether an entry of <paramref name="key"/> below <paramref name="position"/> is parked.</summary>
    public bool HasParkedKeyBelow(string key, Position position)
    {
        foreach (var (parked, parkedKey) in _parkedKeys)
        {
            if (parked < position && parkedKey == key)
            {
                return true;
            }
        }
        return false;
    }
}
