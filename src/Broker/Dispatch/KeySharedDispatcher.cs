using Pulsarish.Broker.Topics;

namespace Pulsarish.Broker.Dispatch;

/// <summary>
/// Key_Shared (Pulsar's PersistentStickyKeyDispatcherMultipleConsumers): every entry goes to the consumer that the
/// <see cref="KeyHashConsumerSelector"/> names for its key (the key of its first message), so each key reaches one
/// consumer, in order. An entry whose consumer has no permits is parked in the <see cref="RedeliveryTracker"/> with its
/// key, and replayed before anything newer of that key; entries of other keys pass. A consumer that joins a
/// subscription that already has consumers receives no entry at or after the read position of its joining until
/// everything before it is acknowledged, so keys moved to it keep their order.
/// </summary>
internal sealed class KeySharedDispatcher(Subscription subscription, int replicaPoints) : Dispatcher(subscription)
{
    private readonly KeyHashConsumerSelector _selector = new(replicaPoints);

    protected override bool ParksBlockedEntries => true;

    protected override bool DelaysEntries => true;

    internal override void ConsumerAddedLocked(Consumer consumer)
    {
        if (Consumers.Count > 1)
        {
            consumer.JoinedAtReadPosition = Cursor.ReadPosition;
        }
        base.ConsumerAddedLocked(consumer);
    }

    protected override void ConsumersChangedLocked() => _selector.ConsumersChanged(Consumers);

    protected override Consumer? SelectLocked(string key, Position position) =>
        _selector.Owner(key) is { CanReceive: true } owner && MayReceiveLocked(owner, position) ? owner : null;

    // Key_Shared: the selector's consumer for the key, and nothing of the key parked below the entry (per-key order).
    protected override bool DeliveryRuleHoldsLocked(Consumer consumer, string key, Position position) =>
        ReferenceEquals(consumer, _selector.Owner(key)) && !Redelivery.HasParkedKeyBelow(key, position);

    /// <summary>A parked entry is tried only when its key's consumer can take it now.</summary>
    protected override bool MayReplayNowLocked(Position position) =>
        !Redelivery.TryGetParkedKey(position, out string? key)
        || (_selector.Owner(key!) is { CanReceive: true } owner && MayReceiveLocked(owner, position));

    /// <summary>Ordering on join: a recently joined consumer waits until everything before its join position is acknowledged.</summary>
    private bool MayReceiveLocked(Consumer consumer, Position position)
    {
        if (consumer.JoinedAtReadPosition is not { } joined)
        {
            return true;
        }
        if (Ledger.GetNextValidPosition(Cursor.MarkDeletePosition) >= joined)
        {
            consumer.JoinedAtReadPosition = null;
            return true;
        }
        return position < joined;
    }
}
