using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Dispatch;

/// <summary>What a consumer asks for when it subscribes (proto/broker.proto Subscribe).</summary>
public sealed record SubscribeOptions
{
    public required string Subscription { get; init; }
    public SubscriptionType Type { get; init; } = SubscriptionType.Exclusive;
    public InitialPosition InitialPosition { get; init; } = InitialPosition.Latest;

    /// <summary>Empty: the broker generates one.</summary>
    public string ConsumerName { get; init; } = "";

    /// <summary>Failover: lower levels are preferred (Pulsar's priorityLevel, 0 highest).</summary>
    public int PriorityLevel { get; init; }

    /// <summary>Unacknowledged messages older than this are redelivered (null: never), with a higher redelivery count.</summary>
    public TimeSpan? AckTimeout { get; init; }

    /// <summary>False: a reader's non-durable subscription (in memory only; gone when its last consumer leaves).</summary>
    public bool Durable { get; init; } = true;

    /// <summary>Non-durable only: the entry of this id is delivered first (null: <see cref="InitialPosition"/>).</summary>
    public Topics.MessageId? StartMessageId { get; init; }

    /// <summary>Non-durable only, without <see cref="StartMessageId"/> and Latest: start at the last stored entry.</summary>
    public bool StartMessageIdInclusive { get; init; }
}
