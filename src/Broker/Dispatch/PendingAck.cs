namespace Pulsarish.Broker.Dispatch;

/// <summary>An entry delivered to a consumer and not yet acknowledged: its message count and delivery time.</summary>
internal readonly record struct PendingAck(int BatchSize, long DeliveredMillis);
