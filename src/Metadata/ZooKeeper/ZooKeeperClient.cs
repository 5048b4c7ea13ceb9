using System.Diagnostics;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pulsarish.Protocol.Errors;

namespace Pulsarish.Metadata.ZooKeeper;

/// <summary>
/// A ZooKeeper client speaking the server's jute wire protocol: one session over one TCP connection at a time,
/// moved to another server of the ensemble on connection loss while the session lives.
/// <para>Thread-safe; every operation is asynchronous and pipelined. Replies complete their tasks from the socket
/// reader with asynchronous continuations. <see cref="Watch"/> and <see cref="StateChanged"/> are raised one at a
/// time, in server order, on a single dispatch loop (never the socket reader): a slow handler delays later events,
/// not I/O, until <see cref="ZooKeeperClientOptions.MaxQueuedEvents"/> are waiting.</para>
/// <para>Failures: an operation in flight when the connection drops fails with <see cref="ConnectionLossException"/>
/// (its outcome is unknown); one issued while disconnected waits for a reconnect up to
/// <see cref="ZooKeeperClientOptions.DisconnectedOperationTimeout"/>. When the session expires the client is dead:
/// <see cref="State"/> becomes <see cref="ZooKeeperState.Expired"/> and every operation fails with
/// <see cref="SessionExpiredException"/>; build a new client (a new session is never created silently).</para>
/// </summary>
public sealed class ZooKeeperClient : IAsyncDisposable
{
    private const string MultiResultsKey = "Pulsarish.ZooKeeper.MultiResults";
    private static readonly TimeSpan SweepInterval = TimeSpan.FromMilliseconds(50);
    private static readonly TimeSpan MaxReconnectBackoff = TimeSpan.FromMilliseconds(500);

    private readonly ZooKeeperClientOptions _options;
    private readonly ILogger _logger;
    private readonly (string Host, int Port)[] _servers;
    private readonly Channel<PendingRequest> _outgoing;
    private readonly Channel<DispatchItem> _events;
    private readonly SemaphoreSlim _eventSlots;
    private readonly CancellationTokenSource _closing = new();
    private readonly TaskCompletionSource _firstConnect = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly object _stateLock = new();
    private ZooKeeperState _state = ZooKeeperState.Connecting;
    private int _serverIndex = -1;
    private long _sessionId;
    private byte[] _password = new byte[16];
    private int _negotiatedTimeoutMillis;
    private long _lastZxid;
    private long _lastHeardTimestamp;
    private int _xid;
    private int _disposed;
    private volatile bool _closeRequested;
    private Task _sessionLoop = Task.CompletedTask;
    private Task _dispatchLoop = Task.CompletedTask;

    private ZooKeeperClient(ZooKeeperClientOptions options, ILogger logger)
    {
        _options = options;
        _logger = logger;
        Paths = ConnectString.Parse(options.ConnectString);
        _servers = [.. Paths.Servers];
        Random.Shared.Shuffle(_servers);
        _outgoing = Channel.CreateBounded<PendingRequest>(new BoundedChannelOptions(options.MaxQueuedRequests)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _events = Channel.CreateUnbounded<DispatchItem>(new UnboundedChannelOptions { SingleReader = true });
        _eventSlots = new SemaphoreSlim(options.MaxQueuedEvents, options.MaxQueuedEvents);
    }

    /// <summary>
    /// Raised on every state change, on the dispatch loop. The first <see cref="ZooKeeperState.Connected"/> may be
    /// dispatched before or after <see cref="ConnectAsync"/> returns.
    /// </summary>
    public event Action<ZooKeeperState>? StateChanged;

    /// <summary>Raised for every fired watch, in server order, on the dispatch loop.</summary>
    public event Action<WatchedEvent>? Watch;

    /// <summary>The session id (stable across reconnects of the same session).</summary>
    public long SessionId => Interlocked.Read(ref _sessionId);

    /// <summary>The session timeout the server granted.</summary>
    public TimeSpan NegotiatedTimeout => TimeSpan.FromMilliseconds(Volatile.Read(ref _negotiatedTimeoutMillis));

    public ZooKeeperState State
    {
        get
        {
            lock (_stateLock) return _state;
        }
    }

    /// <summary>The highest zxid seen in a reply (presented on reconnect so that the client never goes back in time).</summary>
    public long LastZxidSeen => Interlocked.Read(ref _lastZxid);

    /// <summary>The server of the current (or last) connection, "host:port".</summary>
    public string? CurrentServer { get; private set; }

    internal ConnectString Paths { get; }

    internal WatchRegistry Watches { get; } = new();

    /// <summary>
    /// Establishes a session with one of the servers of <see cref="ZooKeeperClientOptions.ConnectString"/>. Throws
    /// <see cref="ConnectionLossException"/> when none answers within the session timeout.
    /// </summary>
    public static async Task<ZooKeeperClient> ConnectAsync(ZooKeeperClientOptions options, ILogger? logger = null,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        var client = new ZooKeeperClient(options, logger ?? NullLogger.Instance);
        client._dispatchLoop = Task.Run(client.DispatchLoopAsync);
        client._sessionLoop = Task.Run(client.RunSessionLoopAsync);
        try
        {
            await client._firstConnect.Task.WaitAsync(ct).ConfigureAwait(false);
        }
        catch
        {
            await client.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return client;
    }

    /// <summary>The per-op results of a failed <see cref="MultiAsync"/>, carried by the exception it threw.</summary>
    public static IReadOnlyList<OpResult>? GetMultiResults(Exception exception) =>
        exception.Data[MultiResultsKey] as IReadOnlyList<OpResult>;

    /// <summary>Creates a znode with the open ACL; returns the created path (with its sequential suffix).</summary>
    public async Task<string> CreateAsync(string path, byte[] data, CreateMode mode, CancellationToken ct = default) =>
        (await Create2Async(path, data, mode, ct).ConfigureAwait(false)).Path;

    /// <summary>Creates a znode (create2); returns the created path and its stat.</summary>
    public Task<(string Path, ZkStat Stat)> Create2Async(string path, byte[] data, CreateMode mode, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        bool sequential = mode is CreateMode.PersistentSequential or CreateMode.EphemeralSequential;
        PathValidation.Validate(path, sequential);
        string serverPath = Paths.ToServer(path);
        var w = PendingRequest.BeginFrame(OpCode.Create2, serverPath.Length * 3 + data.Length + 64);
        WriteCreate(ref w, serverPath, data, mode);
        var request = new PendingRequest<(string, ZkStat)>(OpCode.Create2, path, serverPath, WatchKind.None, -1,
            static (ref JuteReader r, int _, PendingRequest _, ConnectString paths) =>
                (paths.ToClient(r.ReadNonNullString("created path")), r.ReadStat()));
        request.AttachFrame(ref w);
        return SubmitAsync(request, ct);
    }

    /// <summary>Deletes a znode; <paramref name="version"/> -1 matches any. NoNode, BadVersion, NotEmpty.</summary>
    public Task DeleteAsync(string path, int version = -1, CancellationToken ct = default)
    {
        PathValidation.Validate(path, false);
        string serverPath = Paths.ToServer(path);
        var w = PendingRequest.BeginFrame(OpCode.Delete, serverPath.Length * 3 + 16);
        w.WriteString(serverPath);
        w.WriteInt(version);
        var request = new PendingRequest<bool>(OpCode.Delete, path, serverPath, WatchKind.None, version,
            static (ref JuteReader _, int _, PendingRequest _, ConnectString _) => true);
        request.AttachFrame(ref w);
        return SubmitAsync(request, ct);
    }

    /// <summary>Replaces the data; <paramref name="version"/> -1 matches any. Returns the new stat. NoNode, BadVersion.</summary>
    public Task<ZkStat> SetDataAsync(string path, byte[] data, int version = -1, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(data);
        PathValidation.Validate(path, false);
        string serverPath = Paths.ToServer(path);
        var w = PendingRequest.BeginFrame(OpCode.SetData, serverPath.Length * 3 + data.Length + 16);
        w.WriteString(serverPath);
        w.WriteBuffer(data);
        w.WriteInt(version);
        var request = new PendingRequest<ZkStat>(OpCode.SetData, path, serverPath, WatchKind.None, version,
            static (ref JuteReader r, int _, PendingRequest _, ConnectString _) => r.ReadStat());
        request.AttachFrame(ref w);
        return SubmitAsync(request, ct);
    }

    /// <summary>The data and stat of a znode; throws NoNodeException. <paramref name="watch"/> sets a data watch.</summary>
    public Task<(byte[] Data, ZkStat Stat)> GetDataAsync(string path, bool watch = false, CancellationToken ct = default)
    {
        PathValidation.Validate(path, false);
        string serverPath = Paths.ToServer(path);
        var w = PendingRequest.BeginFrame(OpCode.GetData, serverPath.Length * 3 + 8);
        w.WriteString(serverPath);
        w.WriteBool(watch);
        var request = new PendingRequest<(byte[], ZkStat)>(OpCode.GetData, path, serverPath,
            watch ? WatchKind.Data : WatchKind.None, -1,
            static (ref JuteReader r, int _, PendingRequest _, ConnectString _) => (r.ReadBuffer() ?? [], r.ReadStat()));
        request.AttachFrame(ref w);
        return SubmitAsync(request, ct);
    }

    /// <summary>
    /// The stat of a znode, or null when it does not exist. <paramref name="watch"/> sets a data watch when it
    /// exists and an existence watch (fires NodeCreated) when it does not.
    /// </summary>
    public Task<ZkStat?> ExistsAsync(string path, bool watch = false, CancellationToken ct = default)
    {
        PathValidation.Validate(path, false);
        string serverPath = Paths.ToServer(path);
        var w = PendingRequest.BeginFrame(OpCode.Exists, serverPath.Length * 3 + 8);
        w.WriteString(serverPath);
        w.WriteBool(watch);
        var request = new PendingRequest<ZkStat?>(OpCode.Exists, path, serverPath,
            watch ? WatchKind.Exists : WatchKind.None, -1,
            static (ref JuteReader r, int err, PendingRequest q, ConnectString _) =>
                err switch
                {
                    0 => r.ReadStat(),
                    (int)ZooKeeperErrorCode.NoNode => null,
                    _ => throw ZooKeeperErrors.ToException(err, q.ClientPath),
                },
            parsesErrors: true);
        request.AttachFrame(ref w);
        return SubmitAsync(request, ct);
    }

    /// <summary>Child names (unsorted, as the server returns them) and the stat (getChildren2). NoNodeException.</summary>
    public Task<(IReadOnlyList<string> Children, ZkStat Stat)> GetChildrenAsync(string path, bool watch = false,
        CancellationToken ct = default)
    {
        PathValidation.Validate(path, false);
        string serverPath = Paths.ToServer(path);
        var w = PendingRequest.BeginFrame(OpCode.GetChildren2, serverPath.Length * 3 + 8);
        w.WriteString(serverPath);
        w.WriteBool(watch);
        var request = new PendingRequest<(IReadOnlyList<string>, ZkStat)>(OpCode.GetChildren2, path, serverPath,
            watch ? WatchKind.Child : WatchKind.None, -1,
            static (ref JuteReader r, int _, PendingRequest _, ConnectString _) =>
                ((IReadOnlyList<string>)r.ReadStringVector(), r.ReadStat()));
        request.AttachFrame(ref w);
        return SubmitAsync(request, ct);
    }

    /// <summary>
    /// Applies all <paramref name="ops"/> atomically or none. On failure throws the typed exception of the first
    /// failing op; <see cref="GetMultiResults"/> gives the per-op results from it.
    /// </summary>
    public Task<IReadOnlyList<OpResult>> MultiAsync(IEnumerable<Op> ops, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(ops);
        var list = ops.ToList();
        var clientPaths = new string[list.Count];
        var versions = new long[list.Count];
        var w = PendingRequest.BeginFrame(OpCode.Multi, 256);
        try
        {
            for (int i = 0; i < list.Count; i++)
            {
                var op = list[i];
                clientPaths[i] = op.Path;
                versions[i] = -1;
                // MultiHeader(type, done=false, err=-1) before each op's request record.
                switch (op)
                {
                    case Op.CreateOp c:
                        PathValidation.Validate(c.Path, c.Mode is CreateMode.PersistentSequential or CreateMode.EphemeralSequential);
                        WriteMultiHeader(ref w, OpCode.Create2);
                        WriteCreate(ref w, Paths.ToServer(c.Path), c.Data, c.Mode);
                        break;
                    case Op.DeleteOp d:
                        PathValidation.Validate(d.Path, false);
                        WriteMultiHeader(ref w, OpCode.Delete);
                        w.WriteString(Paths.ToServer(d.Path));
                        w.WriteInt(d.Version);
                        versions[i] = d.Version;
                        break;
                    case Op.SetDataOp s:
                        PathValidation.Validate(s.Path, false);
                        WriteMultiHeader(ref w, OpCode.SetData);
                        w.WriteString(Paths.ToServer(s.Path));
                        w.WriteBuffer(s.Data);
                        w.WriteInt(s.Version);
                        versions[i] = s.Version;
                        break;
                    case Op.CheckOp k:
                        PathValidation.Validate(k.Path, false);
                        WriteMultiHeader(ref w, OpCode.Check);
                        w.WriteString(Paths.ToServer(k.Path));
                        w.WriteInt(k.Version);
                        versions[i] = k.Version;
                        break;
                    default:
                        throw new ArgumentException($"unsupported op {op.GetType().Name}");
                }
            }
            // End marker: MultiHeader(-1, done=true, -1).
            w.WriteInt(-1);
            w.WriteBool(true);
            w.WriteInt(-1);
        }
        catch
        {
            w.Abandon();
            throw;
        }
        var request = new PendingRequest<IReadOnlyList<OpResult>>(OpCode.Multi, list.Count > 0 ? list[0].Path : "/", null,
            WatchKind.None, -1,
            (ref JuteReader r, int err, PendingRequest _, ConnectString paths) =>
                ParseMultiReply(ref r, err, paths, clientPaths, versions),
            parsesErrors: true);
        request.AttachFrame(ref w);
        return SubmitAsync(request, ct);
    }

    /// <summary>Waits until the connected server has caught up with the leader for <paramref name="path"/>.</summary>
    public Task SyncAsync(string path, CancellationToken ct = default)
    {
        PathValidation.Validate(path, false);
        string serverPath = Paths.ToServer(path);
        var w = PendingRequest.BeginFrame(OpCode.Sync, serverPath.Length * 3 + 8);
        w.WriteString(serverPath);
        var request = new PendingRequest<string>(OpCode.Sync, path, serverPath, WatchKind.None, -1,
            static (ref JuteReader r, int _, PendingRequest _, ConnectString paths) =>
                paths.ToClient(r.ReadNonNullString("sync path")));
        request.AttachFrame(ref w);
        return SubmitAsync(request, ct);
    }

    /// <summary>Closes the session (its ephemerals are deleted by the server) and the connection.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 1) return;
        if (State == ZooKeeperState.Connected)
        {
            _closeRequested = true;
            var w = PendingRequest.BeginFrame(OpCode.CloseSession, 0);
            var close = new PendingRequest<bool>(OpCode.CloseSession, "/", null, WatchKind.None, -1,
                static (ref JuteReader _, int _, PendingRequest _, ConnectString _) => true);
            close.AttachFrame(ref w);
            try
            {
                await EnqueueAsync(close, CancellationToken.None).WaitAsync(_options.CloseTimeout).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                _logger.LogDebug(e, "Closing session {SessionId:x} did not complete cleanly", SessionId);
            }
        }
        _closeRequested = true;
        _closing.Cancel();
        try
        {
            await _sessionLoop.ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _logger.LogDebug(e, "Session loop ended with an error");
        }
        bool closedNow = false;
        lock (_stateLock)
        {
            if (_state != ZooKeeperState.Expired)
            {
                _state = ZooKeeperState.Closed;
                closedNow = true;
            }
        }
        if (closedNow) _events.Writer.TryWrite(DispatchItem.ForState(ZooKeeperState.Closed));
        _firstConnect.TrySetException(new ConnectionLossException("client closed before connecting"));
        FailQueued(() => new ConnectionLossException("client closed"));
        _events.Writer.TryComplete();
        _closing.Dispose();
    }

    internal int NextXid()
    {
        // Writer loop only (one at a time). Positive xids; the negative ones are reserved.
        _xid = _xid == int.MaxValue ? 1 : _xid + 1;
        return _xid;
    }

    internal void OnZxidSeen(long zxid)
    {
        long current = Interlocked.Read(ref _lastZxid);
        while (zxid > current)
        {
            long previous = Interlocked.CompareExchange(ref _lastZxid, zxid, current);
            if (previous == current) return;
            current = previous;
        }
    }

    internal void OnFrameReceived() => Volatile.Write(ref _lastHeardTimestamp, Stopwatch.GetTimestamp());

    internal async ValueTask EnqueueWatchEventAsync(WatchedEvent e, CancellationToken ct)
    {
        // The bound on undelivered events: back-pressure on the reader once handlers are this far behind.
        if (!_eventSlots.Wait(0))
        {
            try
            {
                await _eventSlots.WaitAsync(ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // The connection is going away, but the server already consumed this watch: deliver it anyway.
                _events.Writer.TryWrite(DispatchItem.ForWatch(e, holdsSlot: false));
                throw;
            }
        }
        if (!_events.Writer.TryWrite(DispatchItem.ForWatch(e, holdsSlot: true))) _eventSlots.Release();
    }

    private TimeSpan EffectiveConnectTimeout => _options.ConnectTimeout ?? _options.SessionTimeout / _servers.Length;

    private static void WriteCreate(ref JuteWriter w, string serverPath, byte[] data, CreateMode mode)
    {
        // CreateRequest: path, data, acl, flags.
        w.WriteString(serverPath);
        w.WriteBuffer(data);
        w.WriteOpenAcl();
        w.WriteInt((int)mode);
    }

    private static void WriteMultiHeader(ref JuteWriter w, int type)
    {
        w.WriteInt(type);
        w.WriteBool(false);
        w.WriteInt(-1);
    }

    private static IReadOnlyList<OpResult> ParseMultiReply(ref JuteReader r, int err, ConnectString paths,
        string[] clientPaths, long[] versions)
    {
        // A multi that failed as a whole before reaching the ops carries only the error.
        if (err != 0 && r.Remaining == 0) throw ZooKeeperErrors.ToException(err, clientPaths.Length > 0 ? clientPaths[0] : "/");
        var results = new List<OpResult>(clientPaths.Length);
        int firstError = -1;
        int firstErrorCode = 0;
        while (true)
        {
            int type = r.ReadInt();
            bool done = r.ReadBool();
            r.ReadInt();
            if (done) break;
            if (results.Count >= clientPaths.Length)
                throw new ProtocolException($"multi reply has more results than the {clientPaths.Length} ops sent");
            switch (type)
            {
                case OpCode.Create:
                    results.Add(new OpResult.CreateResult(paths.ToClient(r.ReadNonNullString("created path")), null));
                    break;
                case OpCode.Create2:
                    results.Add(new OpResult.CreateResult(paths.ToClient(r.ReadNonNullString("created path")), r.ReadStat()));
                    break;
                case OpCode.Delete:
                    results.Add(new OpResult.DeleteResult());
                    break;
                case OpCode.SetData:
                    results.Add(new OpResult.SetDataResult(r.ReadStat()));
                    break;
                case OpCode.Check:
                    results.Add(new OpResult.CheckResult());
                    break;
                case OpCode.Error:
                    int code = r.ReadInt();
                    if (code != 0 && firstError < 0)
                    {
                        firstError = results.Count;
                        firstErrorCode = code;
                    }
                    results.Add(new OpResult.ErrorResult((ZooKeeperErrorCode)code));
                    break;
                default:
                    throw new ProtocolException($"unexpected op type {type} in multi reply");
            }
        }
        if (results.Count != clientPaths.Length)
            throw new ProtocolException($"multi reply has {results.Count} results for {clientPaths.Length} ops");
        if (firstError >= 0)
        {
            var e = ZooKeeperErrors.ToException(firstErrorCode, clientPaths[firstError], versions[firstError]);
            e.Data[MultiResultsKey] = results;
            throw e;
        }
        if (err != 0) throw ZooKeeperErrors.ToException(err, clientPaths.Length > 0 ? clientPaths[0] : "/");
        return results;
    }

    private async Task<T> SubmitAsync<T>(PendingRequest<T> request, CancellationToken ct)
    {
        if (Volatile.Read(ref _disposed) == 1)
        {
            request.TryAbandonQueued(new ObjectDisposedException(nameof(ZooKeeperClient)));
            throw new ObjectDisposedException(nameof(ZooKeeperClient));
        }
        return await EnqueueAsync(request, ct).ConfigureAwait(false);
    }

    private Task<T> EnqueueAsync<T>(PendingRequest<T> request, CancellationToken ct)
    {
        if (request.FrameLength > _options.MaxPacketBytes)
        {
            var tooLarge = new TooLargeException(
                $"request for {request.ClientPath} is {request.FrameLength} bytes, above MaxPacketBytes {_options.MaxPacketBytes}");
            request.TryAbandonQueued(tooLarge);
            return request.Task;
        }
        if (State == ZooKeeperState.Expired)
        {
            request.TryAbandonQueued(new SessionExpiredException($"session {SessionId:x} expired"));
            return request.Task;
        }
        if (ct.IsCancellationRequested)
        {
            request.TryAbandonQueued(new OperationCanceledException(ct));
            return request.Task;
        }
        request.MarkEnqueued(ct);
        if (!_outgoing.Writer.TryWrite(request)) _ = EnqueueSlowAsync(request, ct);
        return request.Task;
    }

    private async Task EnqueueSlowAsync(PendingRequest request, CancellationToken ct)
    {
        try
        {
            await _outgoing.Writer.WriteAsync(request, ct).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            request.TryAbandonQueued(DeadClientError());
        }
        catch (OperationCanceledException e)
        {
            request.TryAbandonQueued(e);
        }
    }

    private Exception DeadClientError() => State == ZooKeeperState.Expired
        ? new SessionExpiredException($"session {SessionId:x} expired")
        : new ConnectionLossException("client closed");

    private async Task RunSessionLoopAsync()
    {
        try
        {
            await SessionLoopAsync().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            // A bug, not a network condition: make the client dead the way callers already handle.
            _logger.LogCritical(e, "ZooKeeper session loop failed");
            _firstConnect.TrySetException(new ConnectionLossException("ZooKeeper session loop failed", e));
            Expire($"session loop failed: {e.Message}");
        }
    }

    private async Task SessionLoopAsync()
    {
        var ct = _closing.Token;
        long startTimestamp = Stopwatch.GetTimestamp();
        int failedAttempts = 0;
        while (!ct.IsCancellationRequested)
        {
            ZooKeeperConnection? connection = null;
            using (var sweepStop = new CancellationTokenSource())
            {
                var sweeper = SweepQueuedAsync(sweepStop.Token);
                try
                {
                    while (connection is null)
                    {
                        if (ct.IsCancellationRequested) return;
                        bool hasSession = SessionId != 0;
                        if (hasSession && Stopwatch.GetElapsedTime(Volatile.Read(ref _lastHeardTimestamp)) > NegotiatedTimeout)
                        {
                            Expire($"could not reconnect within the session timeout {NegotiatedTimeout}");
                            return;
                        }
                        if (!hasSession && Stopwatch.GetElapsedTime(startTimestamp) > _options.SessionTimeout)
                        {
                            _firstConnect.TrySetException(new ConnectionLossException(
                                $"no ZooKeeper server of '{_options.ConnectString}' answered within {_options.SessionTimeout}"));
                            return;
                        }
                        _serverIndex = (_serverIndex + 1) % _servers.Length;
                        var (host, port) = _servers[_serverIndex];
                        ZooKeeperConnection candidate;
                        try
                        {
                            candidate = await ZooKeeperConnection.OpenAsync(this, host, port, LastZxidSeen,
                                _options.SessionTimeout, SessionId, _password, EffectiveConnectTimeout,
                                _options.MaxPacketBytes, _options.MaxInFlightRequests, _logger, ct).ConfigureAwait(false);
                        }
                        catch (OperationCanceledException) when (ct.IsCancellationRequested)
                        {
                            return;
                        }
                        catch (Exception e)
                        {
                            failedAttempts++;
                            _logger.LogInformation("Connecting to ZooKeeper {Host}:{Port} failed: {Error}", host, port, e.Message);
                            if (failedAttempts % _servers.Length == 0)
                            {
                                var backoff = TimeSpan.FromMilliseconds(Math.Min(MaxReconnectBackoff.TotalMilliseconds,
                                    10 * failedAttempts + Random.Shared.Next(50)));
                                try
                                {
                                    await Task.Delay(backoff, ct).ConfigureAwait(false);
                                }
                                catch (OperationCanceledException)
                                {
                                    return;
                                }
                            }
                            continue;
                        }
                        var response = candidate.Response;
                        // The server answers an expired (or unknown) session with timeout 0 (ClientCnxn: "session expired").
                        if (response.TimeoutMillis <= 0 || (hasSession && response.SessionId != SessionId))
                        {
                            await candidate.DisposeAsync().ConfigureAwait(false);
                            if (hasSession)
                            {
                                Expire($"server {host}:{port} reports session {SessionId:x} expired");
                                return;
                            }
                            _logger.LogWarning("Server {Host}:{Port} refused a new session", host, port);
                            failedAttempts++;
                            continue;
                        }
                        connection = candidate;
                        CurrentServer = candidate.Server;
                        failedAttempts = 0;
                    }
                }
                finally
                {
                    sweepStop.Cancel();
                    await sweeper.ConfigureAwait(false);
                }
            }

            var established = connection.Response;
            bool reconnected = SessionId != 0;
            if (!reconnected)
            {
                Interlocked.Exchange(ref _sessionId, established.SessionId);
                _password = established.Password;
            }
            Volatile.Write(ref _negotiatedTimeoutMillis, established.TimeoutMillis);
            OnFrameReceived();
            Exception cause;
            try
            {
                var (data, exists, child) = Watches.Snapshot();
                if (reconnected && data.Count + exists.Count + child.Count > 0)
                    await connection.SendSetWatchesAsync(LastZxidSeen, data, exists, child, ct).ConfigureAwait(false);
                _logger.LogInformation("ZooKeeper session {SessionId:x} {Action} on {Server}, timeout {Timeout}",
                    SessionId, reconnected ? "resumed" : "established", connection.Server, NegotiatedTimeout);
                SetState(ZooKeeperState.Connected);
                _firstConnect.TrySetResult();
                cause = await connection.RunAsync(_outgoing.Reader, NegotiatedTimeout, ct).ConfigureAwait(false);
            }
            catch (Exception e)
            {
                cause = e;
            }
            connection.FailSent(_closeRequested
                ? new ConnectionLossException("client closed")
                : new ConnectionLossException($"connection to {connection.Server} lost: {cause.Message}", cause));
            await connection.DisposeAsync().ConfigureAwait(false);
            if (ct.IsCancellationRequested || _closeRequested) return;
            _logger.LogWarning("ZooKeeper connection to {Server} lost (session {SessionId:x}): {Error}",
                connection.Server, SessionId, cause.Message);
            SetState(ZooKeeperState.Disconnected);
        }
    }

    /// <summary>While disconnected: fails queued requests that waited longer than DisconnectedOperationTimeout.</summary>
    private async Task SweepQueuedAsync(CancellationToken ct)
    {
        var reader = _outgoing.Reader;
        long limitTicks = (long)(_options.DisconnectedOperationTimeout.TotalSeconds * Stopwatch.Frequency);
        try
        {
            while (true)
            {
                await Task.Delay(SweepInterval, ct).ConfigureAwait(false);
                while (reader.TryPeek(out var head) &&
                       Stopwatch.GetTimestamp() - head.EnqueuedTimestamp > limitTicks &&
                       reader.TryRead(out var expired))
                {
                    expired.TryAbandonQueued(new ConnectionLossException(
                        $"not connected to ZooKeeper within {_options.DisconnectedOperationTimeout}"));
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Reconnected (or closing): the writer loop takes over the queue.
        }
    }

    private void Expire(string reason)
    {
        lock (_stateLock)
        {
            if (_state is ZooKeeperState.Expired or ZooKeeperState.Closed) return;
            _state = ZooKeeperState.Expired;
        }
        _logger.LogWarning("ZooKeeper session {SessionId:x} expired: {Reason}", SessionId, reason);
        Watches.Clear();
        FailQueued(() => new SessionExpiredException($"session {SessionId:x} expired: {reason}"));
        _events.Writer.TryWrite(DispatchItem.ForState(ZooKeeperState.Expired));
    }

    private void FailQueued(Func<Exception> error)
    {
        _outgoing.Writer.TryComplete();
        while (_outgoing.Reader.TryRead(out var request)) request.TryAbandonQueued(error());
    }

    private void SetState(ZooKeeperState state)
    {
        lock (_stateLock)
        {
            if (_state is ZooKeeperState.Expired or ZooKeeperState.Closed || _state == state) return;
            _state = state;
        }
        _events.Writer.TryWrite(DispatchItem.ForState(state));
    }

    private async Task DispatchLoopAsync()
    {
        await foreach (var item in _events.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            if (item.IsWatch)
            {
                try
                {
                    Watch?.Invoke(item.Event);
                }
                catch (Exception e)
                {
                    _logger.LogError(e, "Watch handler failed for {EventType} {Path}", item.Event.Type, item.Event.Path);
                }
                finally
                {
                    if (item.HoldsSlot) _eventSlots.Release();
                }
            }
            else
            {
                try
                {
                    StateChanged?.Invoke(item.State);
                }
                catch (Exception e)
                {
                    _logger.LogError(e, "State handler failed for {State}", item.State);
                }
            }
        }
    }

    /// <summary>A watch event or a state change, in the order the dispatch loop raises them.</summary>
    private readonly record struct DispatchItem(bool IsWatch, WatchedEvent Event, ZooKeeperState State, bool HoldsSlot)
    {
        public static DispatchItem ForWatch(WatchedEvent e, bool holdsSlot) => new(true, e, default, holdsSlot);
        public static DispatchItem ForState(ZooKeeperState s) => new(false, default, s, false);
    }
}
