namespace Pulsarish.Metadata;

/// <summary>Settings of <see cref="EmbeddedMetadataStore"/>; defaults follow ZooKeeper's where one exists.</summary>
public sealed class EmbeddedMetadataStoreOptions
{
    /// <summary>Transactions logged between two snapshots (ZooKeeper's <c>snapCount</c>, default 100000).</summary>
    public int SnapshotCount { get; set; } = 100_000;

    /// <summary>
    /// Default <see cref="MaxValueBytes"/>: ZooKeeper's <c>jute.maxbuffer</c> (0xfffff bytes per request) minus room
    /// for the path and headers, so both stores accept the same values.
    /// </summary>
    public const int DefaultMaxValueBytes = 0xfffff - 16 * 1024;

    /// <summary>Largest value accepted.</summary>
    public int MaxValueBytes { get; set; } = DefaultMaxValueBytes;

    /// <summary>fsync the operation log before a write completes (ZooKeeper's <c>forceSync=yes</c>).</summary>
    public bool ForceSync { get; set; } = true;

    /// <summary>
    /// Bound of each session's notification queue. When a listener falls this far behind, writers wait
    /// (back-pressure) rather than drop notifications.
    /// </summary>
    public int NotificationQueueCapacity { get; set; } = 10_000;

    /// <summary>Throws <see cref="ArgumentOutOfRangeException"/> for unusable settings.</summary>
    public void Validate()
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(SnapshotCount, 1, nameof(SnapshotCount));
        ArgumentOutOfRangeException.ThrowIfLessThan(MaxValueBytes, 0, nameof(MaxValueBytes));
        ArgumentOutOfRangeException.ThrowIfLessThan(NotificationQueueCapacity, 1, nameof(NotificationQueueCapacity));
    }
}
