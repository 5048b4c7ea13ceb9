using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pulsarish.Protocol.Errors;
using Pulsarish.Metadata.ZooKeeper;

namespace Pulsarish.Metadata;

/// <summary>
/// <see cref="IMetadataStore"/> on a ZooKeeper ensemble (DESIGN.md §6), paths mapped 1:1 (under the connect
/// string's chroot, created if missing). Reads set ZooKeeper watches whose events become
/// <see cref="Notification"/>s; connection events become <see cref="SessionEvent"/>s. When the session expires,
/// <see cref="SessionEvent.SessionLost"/> is raised and a new <see cref="ZooKeeperClient"/> session is built
/// (retrying with back-off), then <see cref="SessionEvent.SessionReestablished"/>: owners of ephemerals re-create them.
/// Operations issued meanwhile wait for the new session up to the client's disconnected-operation timeout.
/// Thread-safe; notifications and session events are delivered in order on one dispatch loop.
/// </summary>
public sealed class ZooKeeperMetadataStore : IMetadataStore
{
    /// <summary>
    /// Largest value accepted: below the server's <c>jute.maxbuffer</c> (0xfffff bytes per request) with room for
    /// the path and headers, so an oversized write fails with <see cref="TooLargeException"/> instead of a dropped connection.
    /// </summary>
    public const int MaxValueBytes = EmbeddedMetadataStoreOptions.DefaultMaxValueBytes;

    private const int NotificationQueueCapacity = 10_000;
    private const int MaxParentCreationAttempts = 16;
    private static readonly TimeSpan MaxRebuildBackoff = TimeSpan.FromSeconds(5);

    private readonly ZooKeeperClientOptions _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly NotificationDispatcher _dispatcher;
    private readonly CancellationTokenSource _closing = new();
    private readonly object _clientLock = new();
    private ZooKeeperClient? _client;
    private TaskCompletionSource<ZooKeeperClient> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private bool _disconnected;
    private int _disposed;

    private ZooKeeperMetadataStore(ZooKeeperClientOptions options, ILoggerFactory loggerFactory)
    {
        _options = options;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<ZooKeeperMetadataStore>();
        _dispatcher = new NotificationDispatcher(NotificationQueueCapacity, e => SessionEventRaised?.Invoke(e), _logger);
    }

    /// <summary>Connects (creating the chroot when the connect string names one).</summary>
    public static async Task<ZooKeeperMetadataStore> ConnectAsync(
        ZooKeeperClientOptions options, ILoggerFactory? loggerFactory = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var store = new ZooKeeperMetadataStore(options, loggerFactory ?? NullLoggerFactory.Instance);
        try
        {
            await store.EnsureChrootAsync(ct).ConfigureAwait(false);
            var client = await store.NewClientAsync(ct).ConfigureAwait(false);
            store.Install(client);
        }
        catch
        {
            await store.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return store;
    }

    /// <inheritdoc />
    public long SessionId => _client?.SessionId ?? 0;

    /// <summary>The session timeout the server granted.</summary>
    public TimeSpan NegotiatedSessionTimeout => _client?.NegotiatedTimeout ?? TimeSpan.Zero;

    /// <inheritdoc />
    public event Action<SessionEvent>? SessionEventRaised;

    private async Task EnsureChrootAsync(CancellationToken ct)
    {
        var parsed = ConnectString.Parse(_options.ConnectString);
        if (parsed.Chroot is null)
        {
            return;
        }
        var rootOptions = CopyOptions(string.Join(",", parsed.Servers.Select(s => $"{s.Host}:{s.Port}")));
        await using var root = await ZooKeeperClient.ConnectAsync(rootOptions, _logger, ct).ConfigureAwait(false);
        await CreateAncestorsAndSelfAsync(root, parsed.Chroot, ct).ConfigureAwait(false);
    }

    private ZooKeeperClientOptions CopyOptions(string connectString) => new()
    {
        ConnectString = connectString,
        SessionTimeout = _options.SessionTimeout,
        ConnectTimeout = _options.ConnectTimeout,
        DisconnectedOperationTimeout = _options.DisconnectedOperationTimeout,
        MaxPacketBytes = _options.MaxPacketBytes,
        MaxQueuedRequests = _options.MaxQueuedRequests,
        MaxQueuedEvents = _options.MaxQueuedEvents,
    };

    private async Task<ZooKeeperClient> NewClientAsync(CancellationToken ct)
    {
        var client = await ZooKeeperClient
            .ConnectAsync(CopyOptions(_options.ConnectString), _loggerFactory.CreateLogger<ZooKeeperClient>(), ct)
            .ConfigureAwait(false);
        _logger.LogInformation("ZooKeeper session {SessionId:x} established with {Server}, timeout {SessionTimeout}",
            client.SessionId, client.CurrentServer, client.NegotiatedTimeout);
        return client;
    }

    private void Install(ZooKeeperClient client)
    {
        client.Watch += OnWatch;
        client.StateChanged += state => OnStateChanged(client, state);
        lock (_clientLock)
        {
            _client = client;
            _disconnected = false;
            _ready.TrySetResult(client);
        }
    }

    private void OnWatch(WatchedEvent e)
    {
        var type = e.Type switch
        {
            WatchedEventType.NodeCreated => NotificationType.Created,
            WatchedEventType.NodeDeleted => NotificationType.Deleted,
            WatchedEventType.NodeDataChanged => NotificationType.Modified,
            _ => NotificationType.ChildrenChanged,
        };
        Enqueue(new Notification(type, e.Path));
    }

    private void OnStateChanged(ZooKeeperClient client, ZooKeeperState state)
    {
        if (!ReferenceEquals(client, _client))
        {
            return;
        }
        switch (state)
        {
            case ZooKeeperState.Disconnected:
                _disconnected = true;
                _logger.LogWarning("ZooKeeper connection of session {SessionId:x} lost", client.SessionId);
                Enqueue(SessionEvent.ConnectionLost);
                break;
            case ZooKeeperState.Connected when _disconnected:
                _disconnected = false;
                _logger.LogInformation("ZooKeeper session {SessionId:x} reconnected to {Server}", client.SessionId, client.CurrentServer);
                Enqueue(SessionEvent.Reconnected);
                break;
            case ZooKeeperState.Expired:
                _logger.LogWarning("ZooKeeper session {SessionId:x} expired", client.SessionId);
                lock (_clientLock)
                {
                    if (_ready.Task.IsCompleted)
                    {
                        _ready = new TaskCompletionSource<ZooKeeperClient>(TaskCreationOptions.RunContinuationsAsynchronously);
                    }
                }
                Enqueue(SessionEvent.SessionLost);
                _ = RebuildSessionAsync(client);
                break;
        }
    }

    /// <summary>The expired client is dead (ZooKeeper never revives a session): build a new one, with back-off.</summary>
    private async Task RebuildSessionAsync(ZooKeeperClient expired)
    {
        var backoff = TimeSpan.FromMilliseconds(100);
        while (!_closing.IsCancellationRequested)
        {
            try
            {
                var client = await NewClientAsync(_closing.Token).ConfigureAwait(false);
                if (_closing.IsCancellationRequested)
                {
                    await client.DisposeAsync().ConfigureAwait(false);
                    break;
                }
                Install(client);
                Enqueue(SessionEvent.SessionReestablished);
                break;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                if (_closing.IsCancellationRequested)
                {
                    break;
                }
                _logger.LogWarning(e, "Building a new ZooKeeper session failed; retrying in {Backoff}", backoff);
                try
                {
                    await Task.Delay(backoff, _closing.Token).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
                backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxRebuildBackoff.Ticks));
            }
        }
        await expired.DisposeAsync().ConfigureAwait(false);
    }

    private void Enqueue(Notification n)
    {
        var pending = _dispatcher.EnqueueAsync(n);
        if (!pending.IsCompletedSuccessfully)
        {
            // Back-pressure onto the ZooKeeper client's event loop (bounded there by MaxQueuedEvents).
            pending.AsTask().GetAwaiter().GetResult();
        }
    }

    private void Enqueue(SessionEvent e)
    {
        var pending = _dispatcher.EnqueueAsync(e);
        if (!pending.IsCompletedSuccessfully)
        {
            pending.AsTask().GetAwaiter().GetResult();
        }
    }

    private async ValueTask<ZooKeeperClient> ClientAsync(CancellationToken ct)
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        Task<ZooKeeperClient> ready;
        lock (_clientLock)
        {
            ready = _ready.Task;
        }
        if (ready.IsCompletedSuccessfully)
        {
            return ready.Result;
        }
        try
        {
            return await ready.WaitAsync(_options.DisconnectedOperationTimeout, ct).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
            throw new ConnectionLossException("no ZooKeeper session: a new one is still being established");
        }
    }

    /// <inheritdoc />
    public async Task<GetResult?> GetAsync(string path, CancellationToken ct = default)
    {
        MetadataPath.Validate(path);
        var client = await ClientAsync(ct).ConfigureAwait(false);
        while (true)
        {
            try
            {
                var (data, stat) = await client.GetDataAsync(path, watch: true, ct).ConfigureAwait(false);
                return new GetResult(data, ToStat(stat));
            }
            catch (NoNodeException)
            {
                // No data watch on a missing node: set an existence watch, so the creation is heard.
                if (await client.ExistsAsync(path, watch: true, ct).ConfigureAwait(false) is null)
                {
                    return null;
                }
            }
        }
    }

    /// <inheritdoc />
    public async Task<bool> ExistsAsync(string path, CancellationToken ct = default)
    {
        MetadataPath.Validate(path);
        var client = await ClientAsync(ct).ConfigureAwait(false);
        return await client.ExistsAsync(path, watch: true, ct).ConfigureAwait(false) is not null;
    }

    /// <inheritdoc />
    public async Task<IReadOnlyList<string>> GetChildrenAsync(string path, CancellationToken ct = default)
    {
        MetadataPath.Validate(path);
        var client = await ClientAsync(ct).ConfigureAwait(false);
        while (true)
        {
            try
            {
                var (children, _) = await client.GetChildrenAsync(path, watch: true, ct).ConfigureAwait(false);
                var sorted = children.ToArray();
                Array.Sort(sorted, StringComparer.Ordinal);
                return sorted;
            }
            catch (NoNodeException)
            {
                if (await client.ExistsAsync(path, watch: true, ct).ConfigureAwait(false) is null)
                {
                    return [];
                }
            }
        }
    }

    /// <inheritdoc />
    public async Task<Stat> PutAsync(string path, ReadOnlyMemory<byte> value, long? expectedVersion, CancellationToken ct = default)
    {
        ValidateForWrite(path, value);
        if (expectedVersion is < -1 or > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(expectedVersion), expectedVersion, "expected version must be null, -1 or a ZooKeeper version");
        }
        byte[] data = value.ToArray();
        var client = await ClientAsync(ct).ConfigureAwait(false);
        if (expectedVersion == -1)
        {
            var (_, created) = await CreateWithParentsAsync(client, path, data, CreateMode.Persistent, ct).ConfigureAwait(false);
            return ToStat(created);
        }
        if (expectedVersion >= 0)
        {
            return ToStat(await client.SetDataAsync(path, data, (int)expectedVersion.Value, ct).ConfigureAwait(false));
        }
        while (true)
        {
            try
            {
                return ToStat(await client.SetDataAsync(path, data, -1, ct).ConfigureAwait(false));
            }
            catch (NoNodeException)
            {
                try
                {
                    var (_, created) = await CreateWithParentsAsync(client, path, data, CreateMode.Persistent, ct).ConfigureAwait(false);
                    return ToStat(created);
                }
                catch (NodeExistsException)
                {
                    // Created concurrently: overwrite it.
                }
            }
        }
    }

    /// <inheritdoc />
    public async Task<string> CreateAsync(string path, ReadOnlyMemory<byte> value, CreateOptions options, CancellationToken ct = default)
    {
        ValidateForWrite(path, value);
        var mode = (options & (CreateOptions.Ephemeral | CreateOptions.Sequential)) switch
        {
            CreateOptions.Ephemeral => CreateMode.Ephemeral,
            CreateOptions.Sequential => CreateMode.PersistentSequential,
            CreateOptions.Ephemeral | CreateOptions.Sequential => CreateMode.EphemeralSequential,
            _ => CreateMode.Persistent,
        };
        var client = await ClientAsync(ct).ConfigureAwait(false);
        var (created, _) = await CreateWithParentsAsync(client, path, value.ToArray(), mode, ct).ConfigureAwait(false);
        return created;
    }

    private static async Task<(string Path, ZkStat Stat)> CreateWithParentsAsync(
        ZooKeeperClient client, string path, byte[] data, CreateMode mode, CancellationToken ct)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                return await client.Create2Async(path, data, mode, ct).ConfigureAwait(false);
            }
            catch (NoNodeException) when (attempt < MaxParentCreationAttempts)
            {
                // A parent is missing (or was deleted concurrently): create the ancestors, then try again.
                await CreateAncestorsAndSelfAsync(client, MetadataPath.Parent(path), ct).ConfigureAwait(false);
            }
        }
    }

    private static async Task CreateAncestorsAndSelfAsync(ZooKeeperClient client, string path, CancellationToken ct)
    {
        int next = 1;
        while (next <= path.Length)
        {
            int slash = path.IndexOf('/', next);
            string prefix = slash < 0 ? path : path[..slash];
            next = slash < 0 ? path.Length + 1 : slash + 1;
            if (prefix == MetadataPath.Root)
            {
                continue;
            }
            try
            {
                await client.CreateAsync(prefix, [], CreateMode.Persistent, ct).ConfigureAwait(false);
            }
            catch (NodeExistsException)
            {
                // Exists already, or another client created it concurrently.
            }
        }
    }

    /// <inheritdoc />
    public async Task DeleteAsync(string path, long? expectedVersion, CancellationToken ct = default)
    {
        MetadataPath.Validate(path);
        if (path == MetadataPath.Root)
        {
            throw new ArgumentException("the root cannot be deleted", nameof(path));
        }
        if (expectedVersion is < -1 or > int.MaxValue)
        {
            throw new ArgumentOutOfRangeException(nameof(expectedVersion), expectedVersion, "not a ZooKeeper version");
        }
        var client = await ClientAsync(ct).ConfigureAwait(false);
        await client.DeleteAsync(path, (int)(expectedVersion ?? -1), ct).ConfigureAwait(false);
    }

    /// <inheritdoc />
    public async Task DeleteRecursiveAsync(string path, CancellationToken ct = default)
    {
        MetadataPath.Validate(path);
        var client = await ClientAsync(ct).ConfigureAwait(false);
        await DeleteTreeAsync(client, path, ct).ConfigureAwait(false);
    }

    private static async Task DeleteTreeAsync(ZooKeeperClient client, string path, CancellationToken ct)
    {
        while (true)
        {
            IReadOnlyList<string> children;
            try
            {
                (children, _) = await client.GetChildrenAsync(path, watch: false, ct).ConfigureAwait(false);
            }
            catch (NoNodeException)
            {
                return;
            }
            foreach (string child in children)
            {
                await DeleteTreeAsync(client, MetadataPath.Combine(path, child), ct).ConfigureAwait(false);
            }
            if (path == MetadataPath.Root)
            {
                return;
            }
            try
            {
                await client.DeleteAsync(path, -1, ct).ConfigureAwait(false);
                return;
            }
            catch (NoNodeException)
            {
                return;
            }
            catch (NotEmptyException)
            {
                // A child was created concurrently: list again.
            }
        }
    }

    /// <inheritdoc />
    public IDisposable RegisterListener(Action<Notification> listener) => _dispatcher.AddListener(listener);

    private static void ValidateForWrite(string path, ReadOnlyMemory<byte> value)
    {
        MetadataPath.Validate(path);
        if (path == MetadataPath.Root)
        {
            throw new ArgumentException("the root cannot be written", nameof(path));
        }
        if (value.Length > MaxValueBytes)
        {
            throw new TooLargeException($"value of {value.Length} bytes for {path} exceeds {MaxValueBytes}");
        }
    }

    private static Stat ToStat(ZkStat s) => new(s.Version, s.EphemeralOwner != 0, s.Ctime, s.Mtime, s.EphemeralOwner);

    /// <summary>Closes the session (the server deletes its ephemerals) and stops rebuilding sessions.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _closing.Cancel();
        ZooKeeperClient? client;
        lock (_clientLock)
        {
            client = _client;
            _ready.TrySetException(new ObjectDisposedException(nameof(ZooKeeperMetadataStore)));
        }
        if (client is not null)
        {
            await client.DisposeAsync().ConfigureAwait(false);
        }
        await _dispatcher.DisposeAsync().ConfigureAwait(false);
    }
}
