using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Pulsarish.Protocol.Errors;

namespace Pulsarish.Metadata;

/// <summary>
/// The in-process tree behind <see cref="EmbeddedMetadataStore"/> views, with ZooKeeper's semantics (versions,
/// cversion-based sequential suffixes, one-shot watches per session, ephemerals per session). Every mutation is a
/// <see cref="MetadataTransaction"/>: validated, appended to the operation log (fsync'd), then applied, so what a
/// reader sees is durable. All state is guarded by one async lock; notifications are handed to each session's
/// dispatcher in commit order and delivered outside the lock.
/// </summary>
internal sealed class EmbeddedMetadataTree : IAsyncDisposable
{
    private const string LogFileName = "metadata.log";
    private const string SnapshotFileName = "metadata.snapshot";
    private const string LockFileName = "LOCK";

    private readonly SemaphoreSlim _mutex = new(1, 1);
    private readonly Dictionary<string, MetadataNode> _nodes = new(StringComparer.Ordinal);
    private readonly Dictionary<long, EmbeddedSession> _sessions = new();
    private readonly EmbeddedMetadataStoreOptions _options;
    private readonly string? _directory;
    private readonly ILogger _logger;
    private readonly List<(EmbeddedSession Session, Notification Notification)> _pending = new();
    private MetadataOperationLog? _log;
    private FileStream? _lockFile;
    private long _lastZxid;
    private long _transactionsSinceSnapshot;
    private long _nextSessionId = 1;
    private bool _closed;
    private Exception? _failure;

    private EmbeddedMetadataTree(string? directory, EmbeddedMetadataStoreOptions options, ILogger logger)
    {
        _directory = directory;
        _options = options;
        _logger = logger;
        _nodes[MetadataPath.Root] = new MetadataNode([], 0, NowMillis());
    }

    public EmbeddedMetadataStoreOptions Options => _options;

    public static EmbeddedMetadataTree CreateInMemory(EmbeddedMetadataStoreOptions options, ILogger logger) =>
        new(null, options, logger);

    /// <summary>Loads snapshot + log from <paramref name="directory"/> and drops ephemerals of the previous run.</summary>
    public static async Task<EmbeddedMetadataTree> OpenAsync(
        string directory, EmbeddedMetadataStoreOptions options, ILogger logger, CancellationToken ct)
    {
        Directory.CreateDirectory(directory);
        var tree = new EmbeddedMetadataTree(directory, options, logger);
        try
        {
            tree.Load();
            await tree.DropOrphanedEphemeralsAsync(ct).ConfigureAwait(false);
        }
        catch
        {
            await tree.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return tree;
    }

    private void Load()
    {
        Debug.Assert(_directory is not null);
        // One store per data directory: an exclusive lock held while open (a second opener gets an IOException).
        try
        {
            _lockFile = new FileStream(Path.Combine(_directory, LockFileName), FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.None);
        }
        catch (IOException e) when (e is not (FileNotFoundException or DirectoryNotFoundException))
        {
            throw new MetadataStoreBusyException(_directory, e);
        }
        string snapshotPath = Path.Combine(_directory, SnapshotFileName);
        File.Delete(snapshotPath + ".tmp");
        if (File.Exists(snapshotPath))
        {
            var (zxid, entries) = MetadataSnapshotFile.Read(snapshotPath);
            foreach (var e in entries)
            {
                RestoreNode(e);
            }
            _lastZxid = zxid;
        }
        _log = MetadataOperationLog.Open(
            Path.Combine(_directory, LogFileName), _lastZxid, _options.ForceSync, ReplayTransaction, _logger);
        _logger.LogInformation(
            "Embedded metadata store loaded from {Directory}: {NodeCount} nodes at zxid {Zxid}",
            _directory, _nodes.Count, _lastZxid);
    }

    private void RestoreNode(MetadataSnapshotFile.Entry e)
    {
        MetadataPath.Validate(e.Path);
        MetadataNode node;
        if (e.Path == MetadataPath.Root)
        {
            node = _nodes[MetadataPath.Root];
            node.Data = e.Data;
        }
        else
        {
            if (_nodes.ContainsKey(e.Path) || !_nodes.TryGetValue(MetadataPath.Parent(e.Path), out var parent))
            {
                throw new CorruptDataException($"metadata snapshot node {e.Path} is duplicated or has no parent");
            }
            node = new MetadataNode(e.Data, e.Ephemeral ? MetadataTransaction.DeadSessionOwner : 0, e.CreatedMillis);
            _nodes[e.Path] = node;
            parent.Children.Add(MetadataPath.Name(e.Path));
        }
        node.Version = e.Version;
        node.ChildVersion = e.ChildVersion;
        node.ModifiedMillis = e.ModifiedMillis;
    }

    private void ReplayTransaction(MetadataTransaction tx)
    {
        if (tx.Zxid != _lastZxid + 1)
        {
            throw new CorruptDataException($"metadata log jumps from zxid {_lastZxid} to {tx.Zxid}");
        }
        foreach (var op in tx.Ops)
        {
            MetadataPath.Validate(op.Path);
            bool consistent = op.Code switch
            {
                MetadataOpCode.Create => !_nodes.ContainsKey(op.Path) && _nodes.ContainsKey(MetadataPath.Parent(op.Path)),
                MetadataOpCode.SetData => _nodes.TryGetValue(op.Path, out var n) && n.Version + 1 == op.Version,
                _ => _nodes.TryGetValue(op.Path, out var d) && d.Children.Count == 0 && op.Path != MetadataPath.Root,
            };
            if (!consistent)
            {
                throw new CorruptDataException($"metadata log zxid {tx.Zxid}: {op.Code} {op.Path} does not fit the tree");
            }
            Apply(op);
        }
        _lastZxid = tx.Zxid;
        _transactionsSinceSnapshot++;
    }

    private async Task DropOrphanedEphemeralsAsync(CancellationToken ct)
    {
        var orphans = new List<MetadataOp>();
        foreach (var (path, node) in _nodes)
        {
            if (node.EphemeralOwner == MetadataTransaction.DeadSessionOwner)
            {
                orphans.Add(MetadataOp.Delete(path));
            }
        }
        if (orphans.Count == 0)
        {
            return;
        }
        await EnterAsync(ct).ConfigureAwait(false);
        try
        {
            await CommitAsync(orphans).ConfigureAwait(false);
        }
        finally
        {
            _mutex.Release();
        }
        _logger.LogInformation("Dropped {Count} ephemeral nodes of the previous run", orphans.Count);
    }

    public EmbeddedSession OpenSession(NotificationDispatcher dispatcher)
    {
        _mutex.Wait();
        try
        {
            ThrowIfClosed();
            var session = new EmbeddedSession(_nextSessionId++, dispatcher);
            _sessions.Add(session.Id, session);
            return session;
        }
        finally
        {
            _mutex.Release();
        }
    }

    /// <summary>Ends a session: forgets its watches and deletes its ephemerals (other sessions are notified).</summary>
    public async Task CloseSessionAsync(EmbeddedSession session)
    {
        await _mutex.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_closed || !_sessions.Remove(session.Id))
            {
                return;
            }
            session.DataWatches.Clear();
            session.ChildWatches.Clear();
            if (session.Ephemerals.Count > 0)
            {
                var ops = new List<MetadataOp>(session.Ephemerals.Count);
                foreach (string path in session.Ephemerals)
                {
                    ops.Add(MetadataOp.Delete(path));
                }
                await CommitAsync(ops).ConfigureAwait(false);
            }
        }
        finally
        {
            _mutex.Release();
        }
    }

    public async Task<GetResult?> GetAsync(EmbeddedSession session, string path, CancellationToken ct)
    {
        MetadataPath.Validate(path);
        await EnterAsync(ct).ConfigureAwait(false);
        try
        {
            ThrowIfClosed();
            AddWatch(session, session.DataWatches, path);
            return _nodes.TryGetValue(path, out var node) ? new GetResult(node.Data.ToArray(), node.ToStat()) : null;
        }
        finally
        {
            _mutex.Release();
        }
    }

    public async Task<bool> ExistsAsync(EmbeddedSession session, string path, CancellationToken ct)
    {
        MetadataPath.Validate(path);
        await EnterAsync(ct).ConfigureAwait(false);
        try
        {
            ThrowIfClosed();
            AddWatch(session, session.DataWatches, path);
            return _nodes.ContainsKey(path);
        }
        finally
        {
            _mutex.Release();
        }
    }

    public async Task<IReadOnlyList<string>> GetChildrenAsync(EmbeddedSession session, string path, CancellationToken ct)
    {
        MetadataPath.Validate(path);
        await EnterAsync(ct).ConfigureAwait(false);
        try
        {
            ThrowIfClosed();
            if (_nodes.TryGetValue(path, out var node))
            {
                AddWatch(session, session.ChildWatches, path);
                return node.Children.ToArray();
            }
            // Missing: an existence watch, so the caller hears the creation (as the ZooKeeper store does).
            AddWatch(session, session.DataWatches, path);
            return [];
        }
        finally
        {
            _mutex.Release();
        }
    }

    public async Task<Stat> PutAsync(
        EmbeddedSession session, string path, ReadOnlyMemory<byte> value, long? expectedVersion, CancellationToken ct)
    {
        ValidateForWrite(path, value);
        if (expectedVersion < -1)
        {
            throw new ArgumentOutOfRangeException(nameof(expectedVersion), expectedVersion, "expected version must be null, -1 or >= 0");
        }
        byte[] data = value.ToArray();
        await EnterAsync(ct).ConfigureAwait(false);
        try
        {
            ThrowIfClosed();
            var ops = new List<MetadataOp>(2);
            long now = NowMillis();
            if (_nodes.TryGetValue(path, out var node))
            {
                if (expectedVersion == -1)
                {
                    throw new NodeExistsException(path);
                }
                if (expectedVersion >= 0 && node.Version != expectedVersion)
                {
                    throw new BadVersionException(path, expectedVersion.Value);
                }
                ops.Add(MetadataOp.SetData(path, data, node.Version + 1, now));
            }
            else
            {
                if (expectedVersion >= 0)
                {
                    throw new NoNodeException(path);
                }
                AddMissingParents(path, ops, now);
                ops.Add(MetadataOp.Create(path, data, 0, now));
            }
            await CommitAsync(ops).ConfigureAwait(false);
            return _nodes[path].ToStat();
        }
        finally
        {
            _mutex.Release();
        }
    }

    public async Task<string> CreateAsync(
        EmbeddedSession session, string path, ReadOnlyMemory<byte> value, CreateOptions options, CancellationToken ct)
    {
        ValidateForWrite(path, value);
        byte[] data = value.ToArray();
        await EnterAsync(ct).ConfigureAwait(false);
        try
        {
            ThrowIfClosed();
            bool ephemeral = (options & CreateOptions.Ephemeral) != 0;
            if (ephemeral && !_sessions.ContainsKey(session.Id))
            {
                throw new SessionExpiredException($"session {session.Id} is closed");
            }
            var ops = new List<MetadataOp>(2);
            long now = NowMillis();
            string parentPath = MetadataPath.Parent(path);
            AddMissingParents(path, ops, now);
            string actualPath = path;
            if ((options & CreateOptions.Sequential) != 0)
            {
                // ZooKeeper's suffix: the parent's cversion before this create, 10 digits zero-padded.
                long childVersion = _nodes.TryGetValue(parentPath, out var parent) ? parent.ChildVersion : 0;
                actualPath = path + childVersion.ToString("D10", System.Globalization.CultureInfo.InvariantCulture);
            }
            if (_nodes.ContainsKey(actualPath))
            {
                throw new NodeExistsException(actualPath);
            }
            ops.Add(MetadataOp.Create(actualPath, data, ephemeral ? session.Id : 0, now));
            await CommitAsync(ops).ConfigureAwait(false);
            return actualPath;
        }
        finally
        {
            _mutex.Release();
        }
    }

    public async Task DeleteAsync(EmbeddedSession session, string path, long? expectedVersion, CancellationToken ct)
    {
        MetadataPath.Validate(path);
        if (path == MetadataPath.Root)
        {
            throw new ArgumentException("the root cannot be deleted", nameof(path));
        }
        await EnterAsync(ct).ConfigureAwait(false);
        try
        {
            ThrowIfClosed();
            if (!_nodes.TryGetValue(path, out var node))
            {
                throw new NoNodeException(path);
            }
            if (expectedVersion is >= 0 && node.Version != expectedVersion)
            {
                throw new BadVersionException(path, expectedVersion.Value);
            }
            if (node.Children.Count > 0)
            {
                throw new NotEmptyException(path);
            }
            await CommitAsync([MetadataOp.Delete(path)]).ConfigureAwait(false);
        }
        finally
        {
            _mutex.Release();
        }
    }

    public async Task DeleteRecursiveAsync(EmbeddedSession session, string path, CancellationToken ct)
    {
        MetadataPath.Validate(path);
        await EnterAsync(ct).ConfigureAwait(false);
        try
        {
            ThrowIfClosed();
            if (!_nodes.ContainsKey(path))
            {
                return;
            }
            var ops = new List<MetadataOp>();
            CollectPostOrder(path, ops);
            if (path == MetadataPath.Root)
            {
                ops.RemoveAt(ops.Count - 1);
            }
            if (ops.Count > 0)
            {
                await CommitAsync(ops).ConfigureAwait(false);
            }
        }
        finally
        {
            _mutex.Release();
        }
    }

    private void CollectPostOrder(string path, List<MetadataOp> ops)
    {
        foreach (string child in _nodes[path].Children)
        {
            CollectPostOrder(MetadataPath.Combine(path, child), ops);
        }
        ops.Add(MetadataOp.Delete(path));
    }

    private void AddMissingParents(string path, List<MetadataOp> ops, long now)
    {
        string parent = MetadataPath.Parent(path);
        if (_nodes.TryGetValue(parent, out var existing))
        {
            if (existing.EphemeralOwner != 0)
            {
                throw new MetadataStoreException("NoChildrenForEphemerals", $"ephemeral {parent} cannot have children");
            }
            return;
        }
        AddMissingParents(parent, ops, now);
        ops.Add(MetadataOp.Create(parent, [], 0, now));
    }

    /// <summary>Logs, applies and announces one transaction. Caller holds the lock.</summary>
    private async Task CommitAsync(IReadOnlyList<MetadataOp> ops)
    {
        if (_failure is not null)
        {
            throw new MetadataStoreException("StoreFailed", "the embedded metadata store failed to write its log", _failure);
        }
        var tx = new MetadataTransaction(_lastZxid + 1, ops);
        if (_log is not null)
        {
            try
            {
                _log.Append(tx);
            }
            catch (Exception e)
            {
                // The log may now end in a partial record; no later record may follow it.
                _failure = e;
                _logger.LogError(e, "Embedded metadata store: log append failed at zxid {Zxid}", tx.Zxid);
                throw new MetadataStoreException("StoreFailed", "the embedded metadata store failed to write its log", e);
            }
        }
        _lastZxid = tx.Zxid;
        foreach (var op in ops)
        {
            Apply(op);
        }
        _transactionsSinceSnapshot++;
        if (_log is not null && _transactionsSinceSnapshot >= _options.SnapshotCount)
        {
            TakeSnapshot();
        }
        await FlushNotificationsAsync().ConfigureAwait(false);
    }

    private async Task FlushNotificationsAsync()
    {
        if (_pending.Count == 0)
        {
            return;
        }
        var batch = _pending.ToArray();
        _pending.Clear();
        foreach (var (session, notification) in batch)
        {
            await session.Dispatcher.EnqueueAsync(notification).ConfigureAwait(false);
        }
    }

    /// <summary>Mutates the tree for one op and queues the watch triggers (ZooKeeper's watch semantics).</summary>
    private void Apply(in MetadataOp op)
    {
        switch (op.Code)
        {
            case MetadataOpCode.Create:
            {
                var parentPath = MetadataPath.Parent(op.Path);
                var parent = _nodes[parentPath];
                Debug.Assert(!_nodes.ContainsKey(op.Path), "create of an existing node");
                _nodes[op.Path] = new MetadataNode(op.Data, op.EphemeralOwner, op.TimeMillis);
                parent.Children.Add(MetadataPath.Name(op.Path));
                parent.ChildVersion++;
                if (op.EphemeralOwner > 0 && _sessions.TryGetValue(op.EphemeralOwner, out var owner))
                {
                    owner.Ephemerals.Add(op.Path);
                }
                Trigger(op.Path, NotificationType.Created, dataWatches: true, childWatches: false);
                Trigger(parentPath, NotificationType.ChildrenChanged, dataWatches: false, childWatches: true);
                break;
            }
            case MetadataOpCode.SetData:
            {
                var node = _nodes[op.Path];
                Debug.Assert(node.Version + 1 == op.Version, "versions increment by one");
                node.Data = op.Data;
                node.Version = op.Version;
                node.ModifiedMillis = op.TimeMillis;
                Trigger(op.Path, NotificationType.Modified, dataWatches: true, childWatches: false);
                break;
            }
            case MetadataOpCode.Delete:
            {
                var parentPath = MetadataPath.Parent(op.Path);
                var node = _nodes[op.Path];
                Debug.Assert(node.Children.Count == 0, "delete of a node with children");
                _nodes.Remove(op.Path);
                var parent = _nodes[parentPath];
                parent.Children.Remove(MetadataPath.Name(op.Path));
                parent.ChildVersion++;
                if (node.EphemeralOwner > 0 && _sessions.TryGetValue(node.EphemeralOwner, out var owner))
                {
                    owner.Ephemerals.Remove(op.Path);
                }
                Trigger(op.Path, NotificationType.Deleted, dataWatches: true, childWatches: true);
                Trigger(parentPath, NotificationType.ChildrenChanged, dataWatches: false, childWatches: true);
                break;
            }
        }
    }

    private void Trigger(string path, NotificationType type, bool dataWatches, bool childWatches)
    {
        foreach (var session in _sessions.Values)
        {
            bool fired = dataWatches && session.DataWatches.Remove(path);
            fired |= childWatches && session.ChildWatches.Remove(path);
            if (fired)
            {
                _pending.Add((session, new Notification(type, path)));
            }
        }
    }

    private void AddWatch(EmbeddedSession session, HashSet<string> watches, string path)
    {
        if (_sessions.ContainsKey(session.Id))
        {
            watches.Add(path);
        }
    }

    private void TakeSnapshot()
    {
        Debug.Assert(_directory is not null && _log is not null);
        var entries = new List<MetadataSnapshotFile.Entry>(_nodes.Count);
        var stack = new Stack<string>();
        stack.Push(MetadataPath.Root);
        while (stack.Count > 0)
        {
            string path = stack.Pop();
            var node = _nodes[path];
            entries.Add(new MetadataSnapshotFile.Entry(
                path, node.Data, node.Version, node.ChildVersion, node.EphemeralOwner != 0, node.CreatedMillis, node.ModifiedMillis));
            foreach (string child in node.Children)
            {
                stack.Push(MetadataPath.Combine(path, child));
            }
        }
        try
        {
            MetadataSnapshotFile.Write(Path.Combine(_directory, SnapshotFileName), _lastZxid, entries);
            // Records up to _lastZxid are in the snapshot; a crash before this reset only leaves records replay skips.
            _log.Reset();
            _transactionsSinceSnapshot = 0;
            _logger.LogInformation("Embedded metadata snapshot at zxid {Zxid} with {NodeCount} nodes", _lastZxid, entries.Count);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The log still holds everything: keep serving and try again at the next commit.
            _logger.LogWarning(e, "Embedded metadata snapshot at zxid {Zxid} failed", _lastZxid);
        }
    }

    private void ValidateForWrite(string path, ReadOnlyMemory<byte> value)
    {
        MetadataPath.Validate(path);
        if (path == MetadataPath.Root)
        {
            throw new ArgumentException("the root cannot be written", nameof(path));
        }
        if (value.Length > _options.MaxValueBytes)
        {
            throw new TooLargeException($"value of {value.Length} bytes for {path} exceeds {_options.MaxValueBytes}");
        }
    }

    private Task EnterAsync(CancellationToken ct) => _mutex.WaitAsync(ct);

    private void ThrowIfClosed()
    {
        ObjectDisposedException.ThrowIf(_closed, this);
    }

    private static long NowMillis() => DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();

    public async ValueTask DisposeAsync()
    {
        await _mutex.WaitAsync().ConfigureAwait(false);
        try
        {
            if (_closed)
            {
                return;
            }
            _closed = true;
            _sessions.Clear();
            _log?.Dispose();
            _log = null;
            _lockFile?.Dispose();
            _lockFile = null;
        }
        finally
        {
            _mutex.Release();
        }
    }
}
