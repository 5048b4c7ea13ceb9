namespace Pulsarish.Client;

/// <summary>A received message. Immutable; acknowledge it through the consumer that received it.</summary>
public sealed class Message
{
    internal Message(string topic, MessageId id, byte[] payload, string? key,
        IReadOnlyDictionary<string, string> properties, DateTimeOffset publishTime, DateTimeOffset? eventTime,
        string producerName, long sequenceId, int redeliveryCount, long epoch)
    {
        Topic = topic;
        MessageId = id;
        Payload = payload;
        Key = key;
        Properties = properties;
        PublishTime = publishTime;
        EventTime = eventTime;
        ProducerName = producerName;
        SequenceId = sequenceId;
        RedeliveryCount = redeliveryCount;
        Epoch = epoch;
    }

    /// <summary>The topic (the partition's topic for a partitioned topic).</summary>
    public string Topic { get; }

    public MessageId MessageId { get; }

    /// <summary>The decompressed payload.</summary>
    public ReadOnlyMemory<byte> Payload { get; }

    public string? Key { get; }

    public IReadOnlyDictionary<string, string> Properties { get; }

    /// <summary>When the broker persisted the message.</summary>
    public DateTimeOffset PublishTime { get; }

    public DateTimeOffset? EventTime { get; }

    public string ProducerName { get; }

    public long SequenceId { get; }

    /// <summary>How many times the broker delivered this message before.</summary>
    public int RedeliveryCount { get; }

    /// <summary>The connection generation that delivered it; older ones were redelivered after a reconnect.</summary>
    internal long Epoch { get; }

    /// <summary>
    /// Set on the placeholder of a compressed batch that did not decompress: the receive throws it (the batch,
    /// <see cref="MessageId"/>, was discarded as Pulsar's consumer discards a corrupt batch).
    /// </summary>
    internal PulsarishClientException? Failure { get; init; }

    /// <summary>Flow permits this queue item stands for (a discarded batch: its undelivered messages).</summary>
    internal int Permits { get; init; } = 1;
}
