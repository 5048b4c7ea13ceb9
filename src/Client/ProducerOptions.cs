namespace Pulsarish.Client;

/// <summary>
/// Settings of a <see cref="Producer"/>. Defaults follow the Apache Pulsar Java client's <c>ProducerBuilder</c>
/// where a counterpart exists.
/// </summary>
public sealed class ProducerOptions
{
    /// <summary>Topic (short names are completed to <c>persistent://public/default/…</c>).</summary>
    public string Topic { get; set; } = "";

    /// <summary>
    /// Producer name; null lets the broker generate one. A fixed name lets a restarted application continue the
    /// de-duplicated sequence (the broker reports the last persisted sequence id on open).
    /// </summary>
    public string? ProducerName { get; set; }

    /// <summary>Whether messages are grouped into batches (one entry each). Pulsar: <c>enableBatching=true</c>.</summary>
    public bool BatchingEnabled { get; set; } = true;

    /// <summary>Messages per batch at most. Pulsar: <c>batchingMaxMessages=1000</c>.</summary>
    public int BatchingMaxMessages { get; set; } = 1000;

    /// <summary>Payload bytes per batch at most. Pulsar: <c>batchingMaxBytes=131072</c>.</summary>
    public int BatchingMaxBytes { get; set; } = 128 * 1024;

    /// <summary>Longest a message waits for its batch to fill. Pulsar: <c>batchingMaxPublishDelay=1ms</c>.</summary>
    public TimeSpan BatchingMaxPublishDelay { get; set; } = TimeSpan.FromMilliseconds(1);

    /// <summary>Payload compression. Pulsar: <c>compressionType=NONE</c>.</summary>
    public MessageCompression Compression { get; set; } = MessageCompression.None;

    /// <summary>
    /// Messages sent but not yet acknowledged by the broker, across all partitions; <c>SendAsync</c> waits for room
    /// (back-pressure). Pulsar: <c>maxPendingMessages=1000</c> (the pre-3.x default).
    /// </summary>
    public int MaxPendingMessages { get; set; } = 1000;

    /// <summary>Routing of unkeyed messages of a partitioned topic.</summary>
    public MessageRoutingMode RoutingMode { get; set; } = MessageRoutingMode.RoundRobinPartition;

    /// <summary>Whether other producers may publish to the topic at the same time (same as <see cref="ProducerAccessMode.Exclusive"/>).</summary>
    public bool ExclusiveAccess { get; set; }

    /// <summary>Access mode. Pulsar: <c>accessMode=Shared</c>. <see cref="ExclusiveAccess"/> turns Shared into Exclusive.</summary>
    public ProducerAccessMode AccessMode { get; set; } = ProducerAccessMode.Shared;

    /// <summary>
    /// A send not acknowledged by the broker within this time fails with <see cref="ErrorReason.Timeout"/>; as in
    /// Pulsar, every send pending at that moment fails with it (so no later send is persisted ahead of a resend of an
    /// earlier one), and the producer goes on with later sends. <see cref="TimeSpan.Zero"/>: never. Pulsar:
    /// <c>sendTimeout=30s</c>.
    /// </summary>
    public TimeSpan SendTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Splits a message larger than <see cref="ChunkMaxMessageSize"/> (default: the topic's max message size) into
    /// chunks, each its own entry, reassembled by the consumer. A chunked message is never batched. Pulsar:
    /// <c>enableChunking=false</c>.
    /// </summary>
    public bool EnableChunking { get; set; }

    /// <summary>Largest chunk payload in bytes; 0: the broker's max message size minus the metadata. Pulsar: <c>chunkMaxMessageSize</c>.</summary>
    public int ChunkMaxMessageSize { get; set; }

    /// <summary>The access mode in force (<see cref="ExclusiveAccess"/> included).</summary>
    internal ProducerAccessMode EffectiveAccessMode
        => ExclusiveAccess && AccessMode == ProducerAccessMode.Shared ? ProducerAccessMode.Exclusive : AccessMode;

    internal void Validate()
    {
        if (string.IsNullOrWhiteSpace(Topic))
        {
            throw new ArgumentException("a topic is required", nameof(Topic));
        }

        if (BatchingMaxMessages < 1 || BatchingMaxBytes < 1 || MaxPendingMessages < 1
            || BatchingMaxPublishDelay < TimeSpan.Zero)
        {
            throw new ArgumentException("batching limits and MaxPendingMessages must be positive");
        }

        if (SendTimeout < TimeSpan.Zero || ChunkMaxMessageSize < 0 || !Enum.IsDefined(AccessMode))
        {
            throw new ArgumentException("SendTimeout and ChunkMaxMessageSize must not be negative, AccessMode must be defined");
        }
    }
}
