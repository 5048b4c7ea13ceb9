using Pulsarish.Broker.Topics;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Dispatch;

/// <summary>
/// One consumer attached to a <see cref="Subscription"/>. Messages go to its <see cref="IConsumerSink"/> while it has
/// permits (flow control: <see cref="Flow"/>); every delivered entry stays pending until acknowledged, and is
/// redelivered (redelivery count + 1) on negative ack, ack timeout or when the consumer closes. Thread-safe: all
/// state is guarded by the subscription.
/// </summary>
public sealed class Consumer
{
    internal Consumer(Subscription subscription, long consumerId, string name, int priorityLevel, IConsumerSink sink,
        TimeSpan? ackTimeout, SubscriptionType type, int maxUnackedEntries)
    {
        MaxUnackedEntries = maxUnackedEntries;
        Subscription = subscription;
        ConsumerId = consumerId;
        Name = name;
        PriorityLevel = priorityLevel;
        Sink = sink;
        AckTimeout = ackTimeout;
        Type = type;
    }

    public Subscription Subscription { get; }
    public long ConsumerId { get; }
    public string Name { get; }
    public int PriorityLevel { get; }
    public IConsumerSink Sink { get; }
    public TimeSpan? AckTimeout { get; }
    public SubscriptionType Type { get; }

    internal int Permits;
    internal readonly int MaxUnackedEntries;

    /// <summary>Has permits and is below its unacknowledged-entries bound. Under the subscription's lock.</summary>
    internal bool CanReceive => Permits > 0 && Pending.Count < MaxUnackedEntries;
    internal bool IsClosed;
    internal bool IsActiveFlag;
    internal bool? LastNotifiedActive;
    // Key_Shared: the read position when this consumer joined a subscription that had consumers; until everything
    // before it is acknowledged, it receives no entry at or after it (keys moved to it keep their order).
    internal Position? JoinedAtReadPosition;
    internal readonly Dictionary<Position, PendingAck> Pending = new();
    internal long MessagesOut;

    /// <summary>Permits left (messages the consumer can still take).</summary>
    public int AvailablePermits => Subscription.Read(this, static c => c.Permits);

    /// <summary>Entries delivered and not acknowledged.</summary>
    public int UnackedEntries => Subscription.Read(this, static c => c.Pending.Count);

    /// <summary>Failover/Exclusive: whether this consumer receives messages now.</summary>
    public bool IsActive => Subscription.Read(this, static c => c.IsActiveFlag);

    /// <summary>Grants <paramref name="permits"/> more messages.</summary>
    public void Flow(int permits) => Subscription.Flow(this, permits);

    /// <summary>
    /// Acknowledges messages. Individual: each id (a batch index acknowledges one message of its entry). Cumulative
    /// (Exclusive/Failover only, else <see cref="Errors.NotAllowedException"/>): everything up to the id. Unknown ids
    /// fail with <see cref="Errors.InvalidMessageIdException"/> and nothing of the request is applied.
    /// </summary>
    public void Acknowledge(AckType type, IReadOnlyList<MessageId> ids) => Subscription.Acknowledge(this, type, ids);

    /// <summary>Redelivers the given pending messages' entries now.</summary>
    public void NegativeAcknowledge(IReadOnlyList<MessageId> ids) => Subscription.NegativeAcknowledge(this, ids);

    /// <summary>Redelivers every pending entry of this consumer.</summary>
    public void RedeliverUnacknowledged() => Subscription.RedeliverUnacknowledged(this);

    /// <summary>Resets the subscription so that <paramref name="id"/> is the next message delivered.</summary>
    public Task<Position> SeekAsync(MessageId id, CancellationToken ct = default) => Subscription.SeekAsync(id, ct);

    /// <summary>Resets the subscription to the first message published at or after <paramref name="publishTimeMillis"/>.</summary>
    public Task<Position> SeekAsync(long publishTimeMillis, CancellationToken ct = default) => Subscription.SeekByTimeAsync(publishTimeMillis, ct);

    /// <summary>Detaches the consumer; its pending entries are redelivered to the others.</summary>
    public void Close() => Subscription.RemoveConsumer(this, null);

    public override string ToString() => $"{Name}#{ConsumerId}";
}
