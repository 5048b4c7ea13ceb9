using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Dispatch;

/// <summary>Statistics of one consumer.</summary>
public sealed record ConsumerStats(string Name, long ConsumerId, int AvailablePermits, int UnackedEntries, long MessagesOut, bool IsActive);

/// <summary>Statistics of one subscription (entries are the unit of the backlog, as Pulsar's msgBacklog without batches).</summary>
public sealed record SubscriptionStats(
    string Name,
    SubscriptionType Type,
    long BacklogEntries,
    long MessagesOut,
    long BytesOut,
    long MessagesRedelivered,
    int PendingRedelivery,
    string MarkDeletePosition,
    string ReadPosition,
    int IndividuallyDeletedEntries,
    long CursorLedgerId,
    IReadOnlyList<ConsumerStats> Consumers);
