namespace Pulsarish.Broker.Dispatch;

/// <summary>What a <see cref="ChannelConsumerSink"/> yields: a message, an active-consumer change, or the disconnect.</summary>
public readonly record struct ConsumerEvent(DeliveredMessage? Message, bool? IsActive, Exception? Disconnect);
