using System.ComponentModel.DataAnnotations;
namespace Pulsarish.Broker;

/// <summary>
/// Settings of the broker engine. Defaults are Apache Pulsar's broker.conf defaults where Pulsar has the setting
/// (names in the summaries); deviations are stated.
/// </summary>
public sealed class BrokerOptions
{
    /// <summary>Identity of this broker (later: its registration under /loadbalance/brokers).</summary>
    public string BrokerId { get; set; } = "broker-0";

    /// <summary>host:port clients reach this broker's gRPC service at (lookup answers).</summary>
    public string AdvertisedAddress { get; set; } = "127.0.0.1:6650";

    /// <summary>managedLedgerMaxEntriesPerLedger = 50000: roll over after this many entries.</summary>
    [Range(typeof(long), "1", "9223372036854775807")]
    public long ManagedLedgerMaxEntriesPerLedger { get; set; } = 50_000;

    /// <summary>managedLedgerMaxSizePerLedgerMbytes = 2048: roll over after this many payload bytes.</summary>
    [Range(typeof(long), "1", "9223372036854775807")]
    public long ManagedLedgerMaxSizePerLedgerBytes { get; set; } = 2048L * 1024 * 1024;

    /// <summary>managedLedgerMinLedgerRolloverTimeMinutes = 10: no size/entry roll-over of a younger ledger.</summary>
    public TimeSpan ManagedLedgerMinLedgerRolloverTime { get; set; } = TimeSpan.FromMinutes(10);

    /// <summary>managedLedgerMaxLedgerRolloverTimeMinutes = 240: roll over a ledger older than this.</summary>
    public TimeSpan ManagedLedgerMaxLedgerRolloverTime { get; set; } = TimeSpan.FromMinutes(240);

    /// <summary>managedLedgerDefaultEnsembleSize = 2 (namespace persistence policy default).</summary>
    [Range(1, 1024)]
    public int ManagedLedgerDefaultEnsembleSize { get; set; } = 2;

    /// <summary>managedLedgerDefaultWriteQuorum = 2.</summary>
    [Range(1, 1024)]
    public int ManagedLedgerDefaultWriteQuorum { get; set; } = 2;

    /// <summary>managedLedgerDefaultAckQuorum = 2.</summary>
    [Range(1, 1024)]
    public int ManagedLedgerDefaultAckQuorum { get; set; } = 2;

    /// <summary>
    /// Bound of the broker-wide tail cache of recent entries (Pulsar's managedLedgerCacheSizeMB defaults to 20% of
    /// direct memory; here a fixed 64 MiB).
    /// </summary>
    [Range(typeof(long), "0", "9223372036854775807")]
    public long ManagedLedgerCacheSizeBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>managedLedgerCursorMaxEntriesPerLedger = 50000: snapshots per cursor ledger before it is replaced.</summary>
    [Range(typeof(long), "1", "9223372036854775807")]
    public long ManagedCursorMaxEntriesPerLedger { get; set; } = 50_000;

    /// <summary>
    /// Minimum time between two persisted snapshots of one cursor (managedLedgerDefaultMarkDeleteRateLimit = 1.0/s).
    /// Acknowledgements are applied at once and persisted asynchronously within this interval: a crash may redeliver
    /// what was acknowledged in the last interval (at-least-once, as Pulsar).
    /// </summary>
    public TimeSpan CursorPersistInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>managedLedgerMaxUnackedRangesToPersist = 10000: individually deleted ranges kept in a snapshot.</summary>
    [Range(1, int.MaxValue)]
    public int MaxUnackedRangesToPersist { get; set; } = 10_000;

    /// <summary>maxMessageSize = 5 MiB: largest stored entry (a serialized batch).</summary>
    [Range(1, int.MaxValue)]
    public int MaxMessageSizeBytes { get; set; } = 5 * 1024 * 1024;

    /// <summary>defaultNumberOfNamespaceBundles = 4.</summary>
    [Range(1, 1024)]
    public int DefaultNumberOfNamespaceBundles { get; set; } = 4;

    /// <summary>allowAutoTopicCreation = true (default of the namespace policy).</summary>
    public bool AllowAutoTopicCreation { get; set; } = true;

    /// <summary>defaultRetentionTimeInMinutes = 0 (negative: infinite).</summary>
    public TimeSpan DefaultRetentionTime { get; set; } = TimeSpan.Zero;

    /// <summary>defaultRetentionSizeInMB = 0 (negative: infinite).</summary>
    public long DefaultRetentionSizeBytes { get; set; }

    /// <summary>ttlDurationDefaultInSeconds = 0 (no TTL).</summary>
    public TimeSpan DefaultMessageTtl { get; set; } = TimeSpan.Zero;

    /// <summary>
    /// statsUpdateFrequencyInSecs = 60: topic rates (messages/bytes per second) are those of the last such interval,
    /// so they fall to 0 one interval after traffic stops.
    /// </summary>
    public TimeSpan StatsUpdateInterval { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>retentionCheckIntervalInSeconds = 120: period of the TTL/retention/roll-over task.</summary>
    public TimeSpan RetentionCheckInterval { get; set; } = TimeSpan.FromSeconds(120);

    /// <summary>maxPendingPublishRequestsPerConnection = 1000, applied per producer.</summary>
    [Range(1, int.MaxValue)]
    public int MaxPendingMessagesPerProducer { get; set; } = 1000;

    /// <summary>
    /// maxMessagePublishBufferSizeInMB (Pulsar: half the direct memory; here 256 MiB): bytes of sends accepted and not
    /// yet persisted, broker-wide. Beyond it sends fail with ProducerQueueFull.
    /// </summary>
    [Range(typeof(long), "1", "9223372036854775807")]
    public long MaxPublishBufferBytes { get; set; } = 256L * 1024 * 1024;

    /// <summary>
    /// brokerDeduplicationEnabled (Pulsar: false). Here true: a re-sent sequence id is answered as duplicate.
    /// </summary>
    public bool DeduplicationEnabled { get; set; } = true;

    /// <summary>
    /// brokerDeduplicationMaxNumberOfProducers = 10000: producer names tracked per topic; beyond it the least recently
    /// used name is forgotten (its re-sends are then no longer recognised).
    /// </summary>
    [Range(1, int.MaxValue)]
    public int DeduplicationMaxProducers { get; set; } = 10_000;

    /// <summary>brokerDeduplicationEntriesInterval = 1000: entries between two de-duplication snapshots.</summary>
    [Range(1, int.MaxValue)]
    public int DeduplicationSnapshotEntriesInterval { get; set; } = 1000;

    /// <summary>dispatcherMaxReadBatchSize = 100: entries of one dispatcher read.</summary>
    [Range(1, int.MaxValue)]
    public int DispatcherMaxReadBatchSize { get; set; } = 100;

    /// <summary>
    /// maxUnackedMessagesPerConsumer = 50000, counted in entries: a consumer holding this many unacknowledged entries
    /// gets nothing more until it acknowledges (bounds the broker's pending-ack state).
    /// </summary>
    [Range(1, int.MaxValue)]
    public int MaxUnackedEntriesPerConsumer { get; set; } = 50_000;

    /// <summary>subscriptionKeySharedConsistentHashingReplicaPoints = 100.</summary>
    [Range(1, int.MaxValue)]
    public int KeySharedReplicaPoints { get; set; } = 100;

    /// <summary>
    /// delayedDeliveryEnabled = true: Shared and Key_Shared subscriptions hold an entry whose deliver-at time is in
    /// the future until it is due (default of the namespace policy). Off: delivered at once.
    /// </summary>
    public bool DelayedDeliveryEnabled { get; set; } = true;

    /// <summary>
    /// delayedDeliveryTickTimeMillis = 1000: the delayed-delivery timer fires at most this often, so a delayed message
    /// arrives up to this much after its time (never before).
    /// </summary>
    public TimeSpan DelayedDeliveryTick { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// Delayed entries a subscription's tracker indexes in memory (24 bytes each); beyond it the later-due half is
    /// sealed to a run file (Pulsar bounds its bucket tracker by buckets and snapshot segments instead).
    /// </summary>
    [Range(1, int.MaxValue)]
    public int DelayedDeliveryMaxIndexedMessages { get; set; } = 100_000;

    /// <summary>
    /// delayedDeliveryMaxIndexesPerBucketSnapshotSegment = 5000: entries of a sealed run loaded in memory at a time.
    /// </summary>
    [Range(1, int.MaxValue)]
    public int DelayedDeliverySegmentMessages { get; set; } = 5000;

    /// <summary>Sealed runs per tracker before they are merged into one (Pulsar's delayedDeliveryMaxNumBuckets).</summary>
    [Range(1, 1024)]
    public int DelayedDeliveryMaxRuns { get; set; } = 16;

    /// <summary>
    /// Directory of sealed delayed-delivery runs (null: pulsarish-delayed/&lt;pid&gt; under the system temp directory).
    /// Run files are unlinked as soon as they are created, so nothing is left there after a crash.
    /// </summary>
    public string? DelayedDeliverySpillDirectory { get; set; }

    /// <summary>Messages buffered by a <see cref="Dispatch.ChannelConsumerSink"/> (receiverQueueSize = 1000, doubled).</summary>
    [Range(1, int.MaxValue)]
    public int ConsumerSinkCapacity { get; set; } = 2000;

    /// <summary>Period of the ack-timeout check of consumers that asked for one (Pulsar's tick time, 1 s).</summary>
    public TimeSpan AckTimeoutTick { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Create tenant <c>public</c> and namespace <c>public/default</c> at start (standalone does).</summary>
    public bool CreateDefaultNamespace { get; set; } = true;

    /// <summary>Throws <see cref="ArgumentException"/> on a setting out of range.</summary>
    public void Validate()
    {
        if (ManagedLedgerMaxEntriesPerLedger < 1) throw new ArgumentException("ManagedLedgerMaxEntriesPerLedger must be ≥ 1");
        if (ManagedLedgerMaxSizePerLedgerBytes < 1) throw new ArgumentException("ManagedLedgerMaxSizePerLedgerBytes must be ≥ 1");
        if (ManagedLedgerMinLedgerRolloverTime < TimeSpan.Zero) throw new ArgumentException("ManagedLedgerMinLedgerRolloverTime must be ≥ 0");
        if (ManagedLedgerMaxLedgerRolloverTime <= TimeSpan.Zero) throw new ArgumentException("ManagedLedgerMaxLedgerRolloverTime must be > 0");
        if (ManagedLedgerDefaultAckQuorum < 1 || ManagedLedgerDefaultWriteQuorum < ManagedLedgerDefaultAckQuorum
            || ManagedLedgerDefaultEnsembleSize < ManagedLedgerDefaultWriteQuorum)
            throw new ArgumentException("need E ≥ Qw ≥ Qa ≥ 1");
        if (ManagedLedgerCacheSizeBytes < 0) throw new ArgumentException("ManagedLedgerCacheSizeBytes must be ≥ 0");
        if (ManagedCursorMaxEntriesPerLedger < 1) throw new ArgumentException("ManagedCursorMaxEntriesPerLedger must be ≥ 1");
        if (CursorPersistInterval < TimeSpan.Zero) throw new ArgumentException("CursorPersistInterval must be ≥ 0");
        if (MaxUnackedRangesToPersist < 1) throw new ArgumentException("MaxUnackedRangesToPersist must be ≥ 1");
        if (MaxMessageSizeBytes < 1) throw new ArgumentException("MaxMessageSizeBytes must be ≥ 1");
        if (DefaultNumberOfNamespaceBundles < 1) throw new ArgumentException("DefaultNumberOfNamespaceBundles must be ≥ 1");
        if (RetentionCheckInterval <= TimeSpan.Zero) throw new ArgumentException("RetentionCheckInterval must be > 0");
        if (StatsUpdateInterval <= TimeSpan.Zero) throw new ArgumentException("StatsUpdateInterval must be > 0");
        if (MaxPendingMessagesPerProducer < 1) throw new ArgumentException("MaxPendingMessagesPerProducer must be ≥ 1");
        if (MaxPublishBufferBytes < 1) throw new ArgumentException("MaxPublishBufferBytes must be ≥ 1");
        if (DeduplicationMaxProducers < 1) throw new ArgumentException("DeduplicationMaxProducers must be ≥ 1");
        if (DeduplicationSnapshotEntriesInterval < 1) throw new ArgumentException("DeduplicationSnapshotEntriesInterval must be ≥ 1");
        if (DispatcherMaxReadBatchSize < 1) throw new ArgumentException("DispatcherMaxReadBatchSize must be ≥ 1");
        if (MaxUnackedEntriesPerConsumer < 1) throw new ArgumentException("MaxUnackedEntriesPerConsumer must be ≥ 1");
        if (KeySharedReplicaPoints < 1) throw new ArgumentException("KeySharedReplicaPoints must be ≥ 1");
        if (DelayedDeliveryTick <= TimeSpan.Zero) throw new ArgumentException("DelayedDeliveryTick must be > 0");
        if (DelayedDeliveryMaxIndexedMessages < 1) throw new ArgumentException("DelayedDeliveryMaxIndexedMessages must be ≥ 1");
        if (DelayedDeliverySegmentMessages < 1) throw new ArgumentException("DelayedDeliverySegmentMessages must be ≥ 1");
        if (DelayedDeliveryMaxRuns < 1) throw new ArgumentException("DelayedDeliveryMaxRuns must be ≥ 1");
        if (ConsumerSinkCapacity < 1) throw new ArgumentException("ConsumerSinkCapacity must be ≥ 1");
        if (AckTimeoutTick <= TimeSpan.Zero) throw new ArgumentException("AckTimeoutTick must be > 0");
    }
}
