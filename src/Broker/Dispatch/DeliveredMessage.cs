using Pulsarish.Broker.Topics;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Dispatch;

/// <summary>One message delivered to a consumer: its id, the message as the producer sent it, and delivery facts.</summary>
public sealed record DeliveredMessage(
    MessageId Id,
    ProducerMessage Message,
    string ProducerName,
    long SequenceId,
    long PublishTimeMillis,
    int RedeliveryCount)
{
    /// <summary>The wire form (proto/broker.proto ReceivedMessage).</summary>
    public ReceivedMessage ToProto()
    {
        var received = new ReceivedMessage
        {
            MessageId = Id.ToProto(),
            Payload = Message.Payload,
            Key = Message.Key,
            HasKey = Message.HasKey,
            PublishTimeMillis = PublishTimeMillis,
            EventTimeMillis = Message.EventTimeMillis,
            ProducerName = ProducerName,
            SequenceId = SequenceId,
            RedeliveryCount = RedeliveryCount,
            Chunk = Message.Chunk,
        };
        received.Properties.AddRange(Message.Properties);
        return received;
    }
}
