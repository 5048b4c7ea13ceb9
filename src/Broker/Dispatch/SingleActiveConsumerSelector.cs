using Pulsarish.Broker.Topics;

namespace Pulsarish.Broker.Dispatch;

/// <summary>
/// Exclusive and Failover: one active consumer gets everything. Failover picks deterministically among the consumers
/// of the best (lowest) priority level, sorted by name then id: the first for a non-partitioned topic, index
/// partition mod count for a partition (Pulsar's rule), so the partitions of a topic spread over the consumers.
/// </summary>
internal sealed class SingleActiveConsumerSelector(int partitionIndex) : IConsumerSelector
{
    private Consumer? _active;

    public Consumer? Active => _active;

    public bool ParksBlockedEntries => false;

    public void ConsumersChanged(IReadOnlyList<Consumer> consumers)
    {
        if (consumers.Count == 0)
        {
            _active = null;
            return;
        }
        int best = int.MaxValue;
        foreach (var c in consumers)
        {
            best = Math.Min(best, c.PriorityLevel);
        }
        var candidates = new List<Consumer>();
        foreach (var c in consumers)
        {
            if (c.PriorityLevel == best)
            {
                candidates.Add(c);
            }
        }
        candidates.Sort(static (a, b) =>
        {
            int byName = string.CompareOrdinal(a.Name, b.Name);
            return byName != 0 ? byName : a.ConsumerId.CompareTo(b.ConsumerId);
        });
        _active = candidates[partitionIndex >= 0 ? partitionIndex % candidates.Count : 0];
    }

    public Consumer? Select(string key, Position position) => _active is { Permits: > 0 } active ? active : null;
}
