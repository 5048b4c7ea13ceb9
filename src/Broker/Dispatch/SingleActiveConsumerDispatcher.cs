using System.Diagnostics;
using Pulsarish.Broker.Topics;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Dispatch;

/// <summary>
/// Exclusive and Failover (Pulsar's PersistentDispatcherSingleActiveConsumer): one active consumer gets everything.
/// Failover picks deterministically among the consumers of the best (lowest) priority level, sorted by name then id:
/// the first for a non-partitioned topic, index partition mod count for a partition (Pulsar's rule), so the
/// partitions of a topic spread over the consumers. When the active consumer changes, the entries the previous one
/// had not acknowledged are replayed to the new one (without counting a redelivery), and Failover consumers are told.
/// </summary>
internal sealed class SingleActiveConsumerDispatcher : Dispatcher
{
    private readonly bool _notifiesActiveChanges;
    private Consumer? _active;

    public SingleActiveConsumerDispatcher(Subscription subscription, SubscriptionType type) : base(subscription)
    {
        Debug.Assert(type is SubscriptionType.Exclusive or SubscriptionType.Failover);
        _notifiesActiveChanges = type == SubscriptionType.Failover;
    }

    protected override Consumer? SelectLocked(string key, Position position) =>
        _active is { CanReceive: true } active ? active : null;

    // Exclusive/Failover: only the active consumer receives.
    protected override bool DeliveryRuleHoldsLocked(Consumer consumer, string key, Position position) =>
        ReferenceEquals(consumer, _active) && consumer.IsActiveFlag;

    protected override void ConsumersChangedLocked()
    {
        var previous = _active;
        _active = PickActiveLocked();
        if (previous is not null && !ReferenceEquals(previous, _active))
        {
            // The new active consumer starts where the old one was: its unacknowledged entries are replayed.
            foreach (var position in previous.Pending.Keys)
            {
                Redelivery.Schedule(position, countIt: false);
            }
            previous.Pending.Clear();
        }
        foreach (var c in Consumers)
        {
            bool isActive = ReferenceEquals(c, _active);
            c.IsActiveFlag = isActive;
            if (_notifiesActiveChanges && c.LastNotifiedActive != isActive)
            {
                c.LastNotifiedActive = isActive;
                c.Sink.ActiveConsumerChanged(isActive);
            }
        }
    }

    private Consumer? PickActiveLocked()
    {
        if (Consumers.Count == 0)
        {
            return null;
        }
        int best = int.MaxValue;
        foreach (var c in Consumers)
        {
            best = Math.Min(best, c.PriorityLevel);
        }
        var candidates = new List<Consumer>();
        foreach (var c in Consumers)
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
        int partitionIndex = Subscription.PartitionIndex;
        return candidates[partitionIndex >= 0 ? partitionIndex % candidates.Count : 0];
    }
}
