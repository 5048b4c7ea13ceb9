using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;

namespace Pulsarish.Metadata;

/// <summary>
/// The metadata store of <c>pulsarish standalone</c> (DESIGN.md §1, §6): an in-process tree with ZooKeeper's
/// semantics, made durable by an fsync'd, CRC32C-checked operation log compacted into snapshots (see
/// <see cref="EmbeddedMetadataStoreOptions"/>). Each instance is one <em>session</em> over the tree: it owns its
/// ephemerals and watches. <see cref="OpenAsync"/> returns the tree owner; <see cref="CreateSession"/> adds further
/// sessions over the same tree (broker and bookies in one process). Disposing a session deletes its ephemerals;
/// disposing the owner also closes the tree. Thread-safe. Notifications and session events are delivered in order
/// on a dispatch loop per session, never under the store's lock; listeners must not block on store writes.
/// </summary>
public sealed class EmbeddedMetadataStore : IMetadataStore
{
    private readonly EmbeddedMetadataTree _tree;
    private readonly bool _ownsTree;
    private readonly NotificationDispatcher _dispatcher;
    private readonly ILoggerFactory _loggerFactory;
    private readonly SemaphoreSlim _sessionLock = new(1, 1);
    private volatile EmbeddedSession _session;
    private int _disposed;

    private EmbeddedMetadataStore(EmbeddedMetadataTree tree, bool ownsTree, ILoggerFactory loggerFactory)
    {
        _tree = tree;
        _ownsTree = ownsTree;
        _loggerFactory = loggerFactory;
        _dispatcher = new NotificationDispatcher(
            tree.Options.NotificationQueueCapacity,
            e => SessionEventRaised?.Invoke(e),
            loggerFactory.CreateLogger<EmbeddedMetadataStore>());
        try
        {
            _session = tree.OpenSession(_dispatcher);
        }
        catch
        {
            _dispatcher.Complete();
            throw;
        }
    }

    /// <summary>Opens (creating if needed) a durable tree in <paramref name="directory"/>; the result owns it.</summary>
    public static async Task<EmbeddedMetadataStore> OpenAsync(
        string directory,
        EmbeddedMetadataStoreOptions? options = null,
        ILoggerFactory? loggerFactory = null,
        CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        options ??= new EmbeddedMetadataStoreOptions();
        options.Validate();
        loggerFactory ??= NullLoggerFactory.Instance;
        var tree = await EmbeddedMetadataTree.OpenAsync(
            directory, options, loggerFactory.CreateLogger<EmbeddedMetadataTree>(), ct).ConfigureAwait(false);
        return new EmbeddedMetadataStore(tree, ownsTree: true, loggerFactory);
    }

    /// <summary>A purely in-memory tree (unit tests, <c>memory:</c> URLs); the result owns it.</summary>
    public static EmbeddedMetadataStore CreateInMemory(
        EmbeddedMetadataStoreOptions? options = null, ILoggerFactory? loggerFactory = null)
    {
        options ??= new EmbeddedMetadataStoreOptions();
        options.Validate();
        loggerFactory ??= NullLoggerFactory.Instance;
        var tree = EmbeddedMetadataTree.CreateInMemory(options, loggerFactory.CreateLogger<EmbeddedMetadataTree>());
        return new EmbeddedMetadataStore(tree, ownsTree: true, loggerFactory);
    }

    /// <summary>
    /// A new session over the same tree, with its own ephemerals, watches and listeners. It stops working once the
    /// owner is disposed; dispose it to end the session.
    /// </summary>
    public EmbeddedMetadataStore CreateSession()
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        return new EmbeddedMetadataStore(_tree, ownsTree: false, _loggerFactory);
    }

    /// <summary>The current session id (changes after <see cref="ExpireSessionAsync"/>; unique within the tree).</summary>
    public long SessionId => _session.Id;

    /// <inheritdoc />
    public event Action<SessionEvent>? SessionEventRaised;

    /// <summary>
    /// Simulates a ZooKeeper session expiry (tests): the session's watches are dropped and its ephemerals deleted
    /// (other sessions are notified), then <see cref="SessionEvent.SessionLost"/> and
    /// <see cref="SessionEvent.SessionReestablished"/> are raised and a new session serves this instance.
    /// </summary>
    public async Task ExpireSessionAsync()
    {
        ObjectDisposedException.ThrowIf(_disposed != 0, this);
        await _sessionLock.WaitAsync().ConfigureAwait(false);
        try
        {
            await _tree.CloseSessionAsync(_session).ConfigureAwait(false);
            await _dispatcher.EnqueueAsync(SessionEvent.SessionLost).ConfigureAwait(false);
            _session = _tree.OpenSession(_dispatcher);
            await _dispatcher.EnqueueAsync(SessionEvent.SessionReestablished).ConfigureAwait(false);
        }
        finally
        {
            _sessionLock.Release();
        }
    }

    /// <summary>Synchronous form of <see cref="ExpireSessionAsync"/>.</summary>
    public void ExpireSession() => ExpireSessionAsync().GetAwaiter().GetResult();

    /// <inheritdoc />
    public Task<GetResult?> GetAsync(string path, CancellationToken ct = default) => _tree.GetAsync(_session, path, ct);

    /// <inheritdoc />
    public Task<bool> ExistsAsync(string path, CancellationToken ct = default) => _tree.ExistsAsync(_session, path, ct);

    /// <inheritdoc />
    public Task<IReadOnlyList<string>> GetChildrenAsync(string path, CancellationToken ct = default) =>
        _tree.GetChildrenAsync(_session, path, ct);

    /// <inheritdoc />
    public Task<Stat> PutAsync(string path, ReadOnlyMemory<byte> value, long? expectedVersion, CancellationToken ct = default) =>
        _tree.PutAsync(_session, path, value, expectedVersion, ct);

    /// <inheritdoc />
    public Task<string> CreateAsync(string path, ReadOnlyMemory<byte> value, CreateOptions options, CancellationToken ct = default) =>
        _tree.CreateAsync(_session, path, value, options, ct);

    /// <inheritdoc />
    public Task DeleteAsync(string path, long? expectedVersion, CancellationToken ct = default) =>
        _tree.DeleteAsync(_session, path, expectedVersion, ct);

    /// <inheritdoc />
    public Task DeleteRecursiveAsync(string path, CancellationToken ct = default) =>
        _tree.DeleteRecursiveAsync(_session, path, ct);

    /// <inheritdoc />
    public IDisposable RegisterListener(Action<Notification> listener) => _dispatcher.AddListener(listener);

    /// <summary>Ends the session (its ephemerals are deleted); the owner also closes the tree and its files.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await _sessionLock.WaitAsync().ConfigureAwait(false);
        try
        {
            await _tree.CloseSessionAsync(_session).ConfigureAwait(false);
        }
        finally
        {
            _sessionLock.Release();
        }
        if (_ownsTree)
        {
            await _tree.DisposeAsync().ConfigureAwait(false);
        }
        await _dispatcher.DisposeAsync().ConfigureAwait(false);
    }
}
