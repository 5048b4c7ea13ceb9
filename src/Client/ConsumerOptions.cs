namespace Pulsarish.Client;

/// <summary>
/// Settings of a <see cref="Consumer"/>. Defaults follow the Apache Pulsar Java client's <c>ConsumerBuilder</c>.
/// </summary>
public sealed class ConsumerOptions
{
    /// <summary>Topic (short names are completed to <c>persistent://public/default/…</c>).</summary>
    public string Topic { get; set; } = "";

    /// <summary>
    /// Several topics for one consumer (Pulsar's <c>topics(...)</c>), together with <see cref="Topic"/> if set.
    /// Each message carries its topic (<see cref="Message.Topic"/>, <see cref="MessageId.Topic"/>); acks go to it.
    /// </summary>
    public IList<string> Topics { get; set; } = new List<string>();

    /// <summary>
    /// A regular expression over full topic names of one namespace, e.g. <c>persistent://public/default/orders-.*</c>
    /// (a name without <c>persistent://</c> is completed like a topic name). The consumer subscribes to every
    /// matching topic and, every <see cref="PatternAutoDiscoveryPeriod"/>, to new ones (and leaves deleted ones).
    /// Not together with <see cref="Topic"/> or <see cref="Topics"/>.
    /// </summary>
    public string? TopicsPattern { get; set; }

    /// <summary>How often a pattern consumer looks for new topics. Pulsar: <c>patternAutoDiscoveryPeriod=1 min</c>.</summary>
    public TimeSpan PatternAutoDiscoveryPeriod { get; set; } = TimeSpan.FromMinutes(1);

    /// <summary>Set by <see cref="Reader"/>: a non-durable subscription starting at a message id.</summary>
    internal ReaderStart? Reader { get; set; }

    /// <summary>Subscription name.</summary>
    public string SubscriptionName { get; set; } = "";

    /// <summary>Pulsar: <c>subscriptionType=Exclusive</c>.</summary>
    public SubscriptionType SubscriptionType { get; set; } = SubscriptionType.Exclusive;

    /// <summary>Pulsar: <c>subscriptionInitialPosition=Latest</c>.</summary>
    public SubscriptionInitialPosition InitialPosition { get; set; } = SubscriptionInitialPosition.Latest;

    /// <summary>Consumer name (null: the broker generates one).</summary>
    public string? ConsumerName { get; set; }

    /// <summary>Failover/Shared priority (lower is preferred).</summary>
    public int PriorityLevel { get; set; }

    /// <summary>
    /// Messages prefetched per partition: the flow permits granted to the broker; more are granted once half of
    /// them were received by the application. Pulsar: <c>receiverQueueSize=1000</c>.
    /// </summary>
    public int ReceiverQueueSize { get; set; } = 1000;

    /// <summary>
    /// Chunked messages being reassembled at once per partition; when one more starts, the oldest is dropped (acked
    /// with <see cref="AutoAckOldestChunkedMessageOnQueueFull"/>, else left unacknowledged with its later chunks, so
    /// they are redelivered together after a reconnect or <c>RedeliverUnacknowledgedMessages</c>). Pulsar:
    /// <c>maxPendingChunkedMessage=10</c>.
    /// </summary>
    public int MaxPendingChunkedMessage { get; set; } = 10;

    /// <summary>Whether the chunks of a message dropped for room are acknowledged (discarded). Pulsar: false.</summary>
    public bool AutoAckOldestChunkedMessageOnQueueFull { get; set; }

    /// <summary>
    /// A chunked message not complete this long after its first chunk arrived is dropped and its chunks are
    /// acknowledged (e.g. its producer died mid-message). Pulsar: <c>expireTimeOfIncompleteChunkedMessage=60s</c>.
    /// </summary>
    public TimeSpan ExpireTimeOfIncompleteChunkedMessage { get; set; } = TimeSpan.FromSeconds(60);

    internal void Validate()
    {
        bool hasPattern = !string.IsNullOrWhiteSpace(TopicsPattern);
        bool hasTopics = !string.IsNullOrWhiteSpace(Topic) || Topics.Count > 0;
        if (!hasTopics && !hasPattern)
        {
            throw new ArgumentException("a topic, topics or a topics pattern is required", nameof(Topic));
        }

        if (hasTopics && hasPattern)
        {
            throw new ArgumentException("TopicsPattern excludes Topic and Topics", nameof(TopicsPattern));
        }

        foreach (string topic in Topics)
        {
            if (string.IsNullOrWhiteSpace(topic))
            {
                throw new ArgumentException("an empty name in Topics", nameof(Topics));
            }
        }

        if (PatternAutoDiscoveryPeriod <= TimeSpan.Zero)
        {
            throw new ArgumentException("PatternAutoDiscoveryPeriod must be positive", nameof(PatternAutoDiscoveryPeriod));
        }

        if (string.IsNullOrWhiteSpace(SubscriptionName))
        {
            throw new ArgumentException("a subscription name is required", nameof(SubscriptionName));
        }

        if (MaxPendingChunkedMessage < 1 || ExpireTimeOfIncompleteChunkedMessage <= TimeSpan.Zero)
        {
            throw new ArgumentException("MaxPendingChunkedMessage and ExpireTimeOfIncompleteChunkedMessage must be positive");
        }

        if (ReceiverQueueSize < 1)
        {
            throw new ArgumentException("ReceiverQueueSize must be positive", nameof(ReceiverQueueSize));
        }
    }
}
