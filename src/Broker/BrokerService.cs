using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pulsarish.Broker.Admin;
using Pulsarish.Broker.Errors;
using Pulsarish.Broker.Ownership;
using Pulsarish.Broker.Topics;
using Pulsarish.Protocol.Errors;
using Pulsarish.Ledgers;
using Pulsarish.Metadata;

namespace Pulsarish.Broker;

/// <summary>
/// The broker engine's facade (in-process API; the gRPC layer in Server/ calls it). Holds the metadata store, the
/// ledger client, the namespace service, the tail cache and the loaded topics. A topic is loaded on first use:
/// ownership check (<see cref="IOwnershipService"/>), namespace and partition checks, then its managed ledger is
/// opened (fence + recover the last ledger, new ledger) and its cursors and de-duplication state recovered. A
/// periodic task applies TTL, retention and age roll-over (also on demand: <see cref="RunMaintenanceAsync"/>).
/// Thread-safe.
/// </summary>
public sealed class BrokerService : IAsyncDisposable
{
    private readonly ConcurrentDictionary<string, Lazy<Task<Topic>>> _topics = new(StringComparer.Ordinal);
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _maintenanceGate = new(1, 1);
    private Timer? _maintenanceTimer;
    private Timer? _ackTimeoutTimer;
    private Timer? _statsTimer;
    private long _publishBufferBytes;
    private bool _disposed;

    private BrokerService(BrokerOptions options, IMetadataStore store, LedgerClient ledgerClient, IOwnershipService ownership,
        ILoggerFactory loggerFactory)
    {
        Options = options;
        Store = store;
        LedgerClient = ledgerClient;
        Ownership = ownership;
        LoggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<BrokerService>();
        EntryCache = new EntryCache(options.ManagedLedgerCacheSizeBytes);
        Namespaces = new NamespaceService(store, loggerFactory.CreateLogger<NamespaceService>());
        Namespaces.PoliciesChanged += OnPoliciesChanged;
    }

    public BrokerOptions Options { get; }
    public IMetadataStore Store { get; }
    public LedgerClient LedgerClient { get; }
    public IOwnershipService Ownership { get; }
    public NamespaceService Namespaces { get; }
    public EntryCache EntryCache { get; }
    public ILoggerFactory LoggerFactory { get; }

    /// <summary>Bytes of sends accepted and not yet persisted, broker-wide.</summary>
    public long PublishBufferBytes => Interlocked.Read(ref _publishBufferBytes);

    /// <summary>
    /// Starts the engine on <paramref name="store"/> and <paramref name="ledgerClient"/> (both owned by the caller).
    /// <paramref name="ownership"/> defaults to <see cref="LocalOwnershipService"/>.
    /// </summary>
    public static async Task<BrokerService> StartAsync(BrokerOptions options, IMetadataStore store, LedgerClient ledgerClient,
        IOwnershipService? ownership = null, ILoggerFactory? loggerFactory = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var broker = new BrokerService(options, store, ledgerClient, ownership ?? new LocalOwnershipService(options.AdvertisedAddress),
            loggerFactory ?? NullLoggerFactory.Instance);
        if (options.CreateDefaultNamespace)
        {
            await broker.Namespaces.EnsureDefaultNamespaceAsync(ct).ConfigureAwait(false);
        }
        broker.Ownership.OwnershipLost += broker.OnOwnershipLost;
        broker.Ownership.UnloadTopics = broker.UnloadTopicsAsync;
        broker._maintenanceTimer = new Timer(static s => _ = ((BrokerService)s!).MaintenanceTickAsync(), broker,
            options.RetentionCheckInterval, options.RetentionCheckInterval);
        broker._ackTimeoutTimer = new Timer(static s => ((BrokerService)s!).AckTimeoutTick(), broker,
            options.AckTimeoutTick, options.AckTimeoutTick);
        broker._statsTimer = new Timer(static s => ((BrokerService)s!).StatsTick(), broker,
            options.StatsUpdateInterval, options.StatsUpdateInterval);
        broker._logger.LogInformation("Broker {BrokerId} started", options.BrokerId);
        return broker;
    }

    internal ManagedLedgerConfig LedgerConfig(EffectivePolicies policies) => new()
    {
        EnsembleSize = policies.EnsembleSize,
        WriteQuorum = policies.WriteQuorum,
        AckQuorum = policies.AckQuorum,
        MaxEntriesPerLedger = Options.ManagedLedgerMaxEntriesPerLedger,
        MaxSizePerLedgerBytes = Options.ManagedLedgerMaxSizePerLedgerBytes,
        MinLedgerRolloverTime = Options.ManagedLedgerMinLedgerRolloverTime,
        MaxLedgerRolloverTime = Options.ManagedLedgerMaxLedgerRolloverTime,
        CursorMaxEntriesPerLedger = Options.ManagedCursorMaxEntriesPerLedger,
        CursorPersistInterval = Options.CursorPersistInterval,
        MaxUnackedRangesToPersist = Options.MaxUnackedRangesToPersist,
    };

    internal bool TryReservePublishBuffer(int bytes)
    {
        if (Interlocked.Add(ref _publishBufferBytes, bytes) > Options.MaxPublishBufferBytes)
        {
            Interlocked.Add(ref _publishBufferBytes, -bytes);
            return false;
        }
        return true;
    }

    internal void ReleasePublishBuffer(int bytes) => Interlocked.Add(ref _publishBufferBytes, -bytes);

    // ---- topics ----

    /// <summary>
    /// The loaded topic, loading it on first use. Errors: InvalidTopicName, NamespaceNotFound, TopicNotFound (unknown
    /// topic and auto-creation off or <paramref name="createIfMissing"/> false, or a partition beyond the count),
    /// NotAllowed (the name of a partitioned topic: use its partitions), NotOwner, ServiceNotReady.
    /// </summary>
    public async Task<Topic> GetOrLoadTopicAsync(string topic, bool createIfMissing = true, CancellationToken ct = default)
    {
        var name = TopicName.Parse(topic);
        if (_disposed)
        {
            throw new ServiceNotReadyException("broker is shutting down");
        }
        while (true)
        {
            var lazy = _topics.GetOrAdd(name.FullName,
                _ => new Lazy<Task<Topic>>(() => LoadTopicAsync(name, createIfMissing, _stop.Token)));
            try
            {
                var loaded = await lazy.Value.WaitAsync(ct).ConfigureAwait(false);
                if (loaded.IsClosed)
                {
                    _topics.TryRemove(new KeyValuePair<string, Lazy<Task<Topic>>>(name.FullName, lazy));
                    continue;
                }
                return loaded;
            }
            catch (Exception) when (lazy.IsValueCreated && lazy.Value.IsFaulted)
            {
                _topics.TryRemove(new KeyValuePair<string, Lazy<Task<Topic>>>(name.FullName, lazy));
                await lazy.Value.ConfigureAwait(false);
                throw;
            }
        }
    }

    /// <summary>The topic if it is loaded on this broker, else null.</summary>
    public Topic? GetLoadedTopic(string topic)
    {
        var name = TopicName.Parse(topic);
        return _topics.TryGetValue(name.FullName, out var lazy) && lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully
            ? lazy.Value.Result
            : null;
    }

    /// <summary>Full names of the loaded topics.</summary>
    public IReadOnlyList<string> LoadedTopics
    {
        get
        {
            var result = new List<string>();
            foreach (var (name, lazy) in _topics)
            {
                if (lazy.IsValueCreated && lazy.Value.IsCompletedSuccessfully)
                {
                    result.Add(name);
                }
            }
            return result;
        }
    }

    private async Task<Topic> LoadTopicAsync(TopicName name, bool createIfMissing, CancellationToken ct)
    {
        await Ownership.EnsureOwnedAsync(name, ct).ConfigureAwait(false);
        var policies = EffectivePolicies.Resolve(await Namespaces.GetPoliciesAsync(name.Tenant, name.Namespace, ct).ConfigureAwait(false), Options);
        int partitions = await Namespaces.GetPartitionCountAsync(name, ct).ConfigureAwait(false);
        bool create = createIfMissing && policies.AllowAutoTopicCreation;
        if (!name.IsPartition && partitions > 0)
        {
            throw new NotAllowedException($"{name} is a partitioned topic with {partitions} partitions; use its partitions");
        }
        if (name.IsPartition && partitions > 0)
        {
            if (name.PartitionIndex >= partitions)
            {
                throw new TopicNotFoundException(name.FullName);
            }
            create = true;
        }
        var topic = await Topic.LoadAsync(this, name, policies, create, ct).ConfigureAwait(false);
        topic.Fenced += OnTopicFenced;
        _logger.LogInformation("Loaded topic {Topic}", name.FullName);
        return topic;
    }

    private void OnTopicFenced(Topic topic, Exception reason)
    {
        if (_topics.TryGetValue(topic.Name.FullName, out var lazy) && lazy.IsValueCreated
            && lazy.Value.IsCompletedSuccessfully && ReferenceEquals(lazy.Value.Result, topic))
        {
            _topics.TryRemove(new KeyValuePair<string, Lazy<Task<Topic>>>(topic.Name.FullName, lazy));
        }
    }

    /// <summary>Unloads every loaded topic matching <paramref name="matches"/> and completes when all are closed.</summary>
    private Task UnloadTopicsAsync(Func<TopicName, bool> matches)
    {
        var unloads = new List<Task>();
        foreach (var name in LoadedTopics)
        {
            if (matches(TopicName.Parse(name)))
            {
                unloads.Add(UnloadTopicAsync(name));
            }
        }
        return Task.WhenAll(unloads);
    }

    private void OnOwnershipLost(Func<TopicName, bool> lost)
    {
        foreach (var name in LoadedTopics)
        {
            var topicName = TopicName.Parse(name);
            if (lost(topicName))
            {
                _ = UnloadTopicAsync(name);
            }
        }
    }

    private void OnPoliciesChanged(string tenant, string ns, Policies policies)
    {
        var effective = EffectivePolicies.Resolve(policies, Options);
        foreach (var name in LoadedTopics)
        {
            var topic = GetLoadedTopic(name);
            if (topic is not null && topic.Name.Tenant == tenant && topic.Name.Namespace == ns)
            {
                topic.Policies = effective;
                topic.Ledger.Config = LedgerConfig(effective);
            }
        }
    }

    /// <summary>Creates a non-partitioned topic explicitly (works with auto-creation off). NotAllowed when it exists.</summary>
    public async Task<Topic> CreateTopicAsync(string topic, CancellationToken ct = default)
    {
        var name = TopicName.Parse(topic);
        await Namespaces.GetPoliciesAsync(name.Tenant, name.Namespace, ct).ConfigureAwait(false);
        if (await ManagedLedger.ExistsAsync(Store, name, ct).ConfigureAwait(false))
        {
            throw new NotAllowedException($"topic {name} already exists");
        }
        if (await Namespaces.GetPartitionCountAsync(name, ct).ConfigureAwait(false) > 0 && !name.IsPartition)
        {
            throw new NotAllowedException($"{name} is a partitioned topic");
        }
        var policies = EffectivePolicies.Resolve(await Namespaces.GetPoliciesAsync(name.Tenant, name.Namespace, ct).ConfigureAwait(false), Options);
        var lazy = new Lazy<Task<Topic>>(() => CreateAndLoadAsync(name, policies, ct));
        if (!_topics.TryAdd(name.FullName, lazy))
        {
            throw new NotAllowedException($"topic {name} already exists");
        }
        try
        {
            return await lazy.Value.ConfigureAwait(false);
        }
        catch
        {
            _topics.TryRemove(new KeyValuePair<string, Lazy<Task<Topic>>>(name.FullName, lazy));
            throw;
        }
    }

    private async Task<Topic> CreateAndLoadAsync(TopicName name, EffectivePolicies policies, CancellationToken ct)
    {
        await Ownership.EnsureOwnedAsync(name, ct).ConfigureAwait(false);
        var topic = await Topic.LoadAsync(this, name, policies, createIfMissing: true, ct).ConfigureAwait(false);
        topic.Fenced += OnTopicFenced;
        return topic;
    }

    /// <summary>Creates partitioned-topic metadata with <paramref name="partitions"/> partitions (each a topic, created on first use).</summary>
    public async Task CreatePartitionedTopicAsync(string topic, int partitions, CancellationToken ct = default)
    {
        var name = TopicName.Parse(topic);
        if (name.IsPartition)
        {
            throw new InvalidTopicNameException(topic, "a partitioned topic name must not carry a partition suffix");
        }
        if (partitions < 1 || partitions > 10_000)
        {
            throw new BadRequestException($"partition count {partitions} out of range 1..10000");
        }
        await Namespaces.GetPoliciesAsync(name.Tenant, name.Namespace, ct).ConfigureAwait(false);
        if (await ManagedLedger.ExistsAsync(Store, name, ct).ConfigureAwait(false))
        {
            throw new NotAllowedException($"non-partitioned topic {name} already exists");
        }
        await Namespaces.CreatePartitionedMetadataAsync(name, partitions, ct).ConfigureAwait(false);
        _logger.LogInformation("Created partitioned topic {Topic} with {Partitions} partitions", name.FullName, partitions);
    }

    /// <summary>Partition count of a topic (0: not partitioned). InvalidTopicName for a bad name.</summary>
    public Task<int> GetPartitionCountAsync(string topic, CancellationToken ct = default) =>
        Namespaces.GetPartitionCountAsync(TopicName.Parse(topic).PartitionedTopic, ct);

    /// <summary>Unloads a topic: cursors and de-duplication state persisted, ledger closed, clients disconnected.</summary>
    public async Task UnloadTopicAsync(string topic, CancellationToken ct = default)
    {
        var name = TopicName.Parse(topic);
        if (!_topics.TryRemove(name.FullName, out var lazy) || !lazy.IsValueCreated)
        {
            return;
        }
        Topic loaded;
        try
        {
            loaded = await lazy.Value.ConfigureAwait(false);
        }
        catch (Exception)
        {
            return;
        }
        await loaded.CloseAsync(new ServiceNotReadyException($"topic {name} unloaded"), flush: true).ConfigureAwait(false);
        _logger.LogInformation("Unloaded topic {Topic}", name.FullName);
    }

    /// <summary>Deletes a topic and its data (a partitioned topic: all partitions and the metadata).</summary>
    public async Task DeleteTopicAsync(string topic, bool force = false, CancellationToken ct = default)
    {
        var name = TopicName.Parse(topic);
        int partitions = name.IsPartition ? 0 : await Namespaces.GetPartitionCountAsync(name, ct).ConfigureAwait(false);
        if (partitions > 0)
        {
            for (int i = 0; i < partitions; i++)
            {
                var partition = name.Partition(i);
                if (await ManagedLedger.ExistsAsync(Store, partition, ct).ConfigureAwait(false))
                {
                    await DeleteTopicAsync(partition.FullName, force, ct).ConfigureAwait(false);
                }
            }
            await Namespaces.DeletePartitionedMetadataAsync(name, ct).ConfigureAwait(false);
            return;
        }
        var loaded = await GetOrLoadTopicAsync(name.FullName, createIfMissing: false, ct).ConfigureAwait(false);
        await loaded.DeleteAsync(force, ct).ConfigureAwait(false);
        if (_topics.TryGetValue(name.FullName, out var lazy))
        {
            _topics.TryRemove(new KeyValuePair<string, Lazy<Task<Topic>>>(name.FullName, lazy));
        }
    }

    /// <summary>Statistics of a loaded (or loadable) topic.</summary>
    public async Task<TopicStats> GetStatsAsync(string topic, CancellationToken ct = default) =>
        (await GetOrLoadTopicAsync(topic, createIfMissing: false, ct).ConfigureAwait(false)).GetStats();

    /// <summary>Ledger list and cursor positions of a topic.</summary>
    public async Task<TopicInternalStats> GetInternalStatsAsync(string topic, CancellationToken ct = default) =>
        (await GetOrLoadTopicAsync(topic, createIfMissing: false, ct).ConfigureAwait(false)).GetInternalStats();

    // ---- maintenance ----

    /// <summary>
    /// Refreshes policies, then runs TTL, retention and age roll-over on every loaded topic. Returns the ids of the
    /// deleted ledgers by topic.
    /// </summary>
    public async Task<IReadOnlyDictionary<string, IReadOnlyList<long>>> RunMaintenanceAsync(CancellationToken ct = default)
    {
        var deleted = new Dictionary<string, IReadOnlyList<long>>();
        await _maintenanceGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            foreach (var name in LoadedTopics)
            {
                var topic = GetLoadedTopic(name);
                if (topic is null || topic.IsClosed)
                {
                    continue;
                }
                try
                {
                    var policies = EffectivePolicies.Resolve(
                        await Namespaces.GetPoliciesAsync(topic.Name.Tenant, topic.Name.Namespace, ct).ConfigureAwait(false), Options);
                    topic.Policies = policies;
                    topic.Ledger.Config = LedgerConfig(policies);
                    var ids = await topic.RunRetentionAsync(ct).ConfigureAwait(false);
                    if (ids.Count > 0)
                    {
                        deleted[name] = ids;
                    }
                }
                catch (Exception ex) when (ex is PulsarishException or MetadataStoreException)
                {
                    _logger.LogWarning(ex, "Maintenance of {Topic} failed", name);
                }
            }
        }
        finally
        {
            _maintenanceGate.Release();
        }
        return deleted;
    }

    private async Task MaintenanceTickAsync()
    {
        try
        {
            await RunMaintenanceAsync(_stop.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        catch (Exception ex)
        {
            _logger.LogWarning(ex, "Maintenance task failed");
        }
    }

    private void StatsTick()
    {
        foreach (var name in LoadedTopics)
        {
            GetLoadedTopic(name)?.UpdateRates();
        }
    }

    private void AckTimeoutTick()
    {
        foreach (var name in LoadedTopics)
        {
            GetLoadedTopic(name)?.CheckAckTimeouts();
        }
    }

    /// <summary>Unloads every topic (persisting cursors) and stops the timers. The store and ledger client stay the caller's.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_disposed)
        {
            return;
        }
        _disposed = true;
        _stop.Cancel();
        if (_maintenanceTimer is not null)
        {
            await _maintenanceTimer.DisposeAsync().ConfigureAwait(false);
        }
        if (_statsTimer is not null)
        {
            await _statsTimer.DisposeAsync().ConfigureAwait(false);
        }
        if (_ackTimeoutTimer is not null)
        {
            await _ackTimeoutTimer.DisposeAsync().ConfigureAwait(false);
        }
        foreach (var name in _topics.Keys.ToList())
        {
            try
            {
                await UnloadTopicAsync(name).ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                _logger.LogWarning(ex, "Unloading {Topic} at shutdown failed", name);
            }
        }
        _logger.LogInformation("Broker {BrokerId} stopped", Options.BrokerId);
    }
}
