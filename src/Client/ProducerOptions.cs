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

    /// <summary>
    /// Compression of each batch, applied by this producer; the broker stores and forwards batches as sent and
    /// consumers decompress them. Pulsar: <c>compressionType=NONE</c>.
    /// </summary>
    public CompressionType CompressionType { get; set; } = CompressionType.None;

    /// <summary>
    /// Messages sent but not yet acknowledged by the broker, across all partitions; <c>SendAsync</c> waits for room
    /// (back-pressure). Pulsar: <c>maxPendingMessages=1000</c> (the pre-3.x default).
    /// </summary>
    public int MaxPendingMessages { get; set; } = 1000;

    /// <summary>Routing of unkeyed messages of a partitioned topic.</summary>
    public MessageRoutingMode RoutingMode { get; set; } = MessageRoutingMode.RoundRobinPartition;

    /// <summary>Whether other producers may publish to the topic at the same time.</summary>
    public bool ExclusiveAccess { get; set; }

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

        if (!Enum.IsDefined(CompressionType))
        {
            throw new ArgumentException($"unknown compression type {(int)CompressionType}", nameof(CompressionType));
        }
    }
}
