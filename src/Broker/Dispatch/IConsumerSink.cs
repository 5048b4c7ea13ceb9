namespace Pulsarish.Broker.Dispatch;

/// <summary>
/// Where a subscription's dispatcher pushes a consumer's messages (the gRPC layer pumps it onto the Consume stream).
/// Calls come from the dispatcher under its lock: implementations must not block and must not call back into the
/// subscription. <see cref="ChannelConsumerSink"/> is a ready bounded implementation.
/// </summary>
public interface IConsumerSink
{
    /// <summary>Hands over one message; false when the sink cannot take it (closed or full): it is redelivered later.</summary>
    bool TrySend(DeliveredMessage message);

    /// <summary>Failover/Exclusive: this consumer became (or stopped being) the active one.</summary>
    void ActiveConsumerChanged(bool isActive);

    /// <summary>The broker closed the consumer (topic unloaded or fenced, subscription deleted); no more messages follow.</summary>
    void Disconnected(Exception reason);
}
