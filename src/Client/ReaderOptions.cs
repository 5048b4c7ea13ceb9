namespace Pulsarish.Client;

/// <summary>Settings of a <see cref="Reader"/>. Defaults follow the Apache Pulsar Java client's <c>ReaderBuilder</c>.</summary>
public sealed class ReaderOptions
{
    /// <summary>Topic (short names are completed to <c>persistent://public/default/…</c>); partitioned topics too.</summary>
    public string Topic { get; set; } = "";

    /// <summary>
    /// The first message: <see cref="MessageId.Earliest"/>, <see cref="MessageId.Latest"/> (only messages published
    /// after the reader was created) or a message id (not for a partitioned topic: seek instead).
    /// </summary>
    public MessageId StartMessageId { get; set; } = MessageId.Latest;

    /// <summary>Include <see cref="StartMessageId"/> itself; with <see cref="MessageId.Latest"/>: start at the last message.</summary>
    public bool StartMessageIdInclusive { get; set; }

    /// <summary>Reader name (null: one is generated); also the prefix of its subscription's name.</summary>
    public string? ReaderName { get; set; }

    /// <summary>Subscription name of the non-durable subscription (null: <c>reader-&lt;random&gt;</c>).</summary>
    public string? SubscriptionName { get; set; }

    /// <summary>Messages prefetched per partition. Pulsar: <c>receiverQueueSize=1000</c>.</summary>
    public int ReceiverQueueSize { get; set; } = 1000;

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(Topic))
        {
            throw new ArgumentException("a topic is required", nameof(Topic));
        }

        if (ReceiverQueueSize < 1)
        {
            throw new ArgumentException("ReceiverQueueSize must be positive", nameof(ReceiverQueueSize));
        }
    }
}
