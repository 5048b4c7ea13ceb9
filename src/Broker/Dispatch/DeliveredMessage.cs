using Pulsarish.Broker.Topics;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Dispatch;

/// <summary>
/// One message delivered to a consumer: its id, the message as the producer sent it, and delivery facts. For a
/// client-compressed entry it is the whole batch instead (<see cref="Compressed"/> set, <see cref="Message"/>
/// <see cref="NoMessage"/>, the id's batch index -1 and <see cref="SequenceId"/> the first message's).
/// </summary>
public sealed record DeliveredMessage(
    MessageId Id,
    ProducerMessage Message,
    string ProducerName,
    long SequenceId,
    long PublishTimeMillis,
    int RedeliveryCount)
{
    /// <summary>The placeholder message of a compressed batch delivery.</summary>
    public static readonly ProducerMessage NoMessage = new();

    /// <summary>A client-compressed batch delivered whole, as stored (the consumer splits it).</summary>
    public CompressedBatch? Compressed { get; init; }

    /// <summary>With <see cref="Compressed"/>: batch indexes already acknowledged, which the consumer skips.</summary>
    public IReadOnlyList<int>? AckedBatchIndexes { get; init; }

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
        if (Compressed is not null)
        {
            received.Compressed = Compressed;
            if (AckedBatchIndexes is { } acked)
            {
                received.AckedBatchIndexes.AddRange(acked);
            }
        }
        return received;
    }
}
