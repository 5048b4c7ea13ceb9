using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Net.Sockets;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Pulsarish.Protocol.Errors;

namespace Pulsarish.Metadata.ZooKeeper;

/// <summary>
/// One TCP connection to one server carrying an established session: a writer loop that drains the client's
/// request queue in batches and pings when idle, and a reader loop that matches replies to the FIFO of sent
/// requests by xid (the server answers in order) and hands notifications to the client's dispatch queue.
/// Either loop failing ends the connection; the client then fails what was sent and reconnects.
/// </summary>
internal sealed class ZooKeeperConnection : IAsyncDisposable
{
    private const int WriteBatchBytes = 64 * 1024;
    private const int SetWatchesMaxPathBytes = 128 * 1024;
    private static readonly byte[] PingFrame = BuildPingFrame();

    private readonly ZooKeeperClient _owner;
    private readonly Socket _socket;
    private readonly NetworkStream _stream;
    private readonly FrameReader _frames;
    private readonly ConcurrentQueue<PendingRequest> _sent = new();
    private readonly SemaphoreSlim _inFlightSlots;
    private readonly ILogger _logger;
    private long _lastSendTimestamp;
    private long _lastReceiveTimestamp;

    private ZooKeeperConnection(ZooKeeperClient owner, Socket socket, string server, int maxPacketBytes,
        int maxInFlightRequests, ILogger logger)
    {
        _inFlightSlots = new SemaphoreSlim(maxInFlightRequests, maxInFlightRequests);
        _owner = owner;
        _socket = socket;
        _stream = new NetworkStream(socket, ownsSocket: true);
        _frames = new FrameReader(_stream, maxPacketBytes);
        _logger = logger;
        Server = server;
    }

    public string Server { get; }

    public ConnectResponse Response { get; private set; }

    /// <summary>Connects to one server and performs the session handshake within <paramref name="timeout"/>.</summary>
    public static async Task<ZooKeeperConnection> OpenAsync(ZooKeeperClient owner, string host, int port,
        long lastZxidSeen, TimeSpan requestedTimeout, long sessionId, byte[] password, TimeSpan timeout,
        int maxPacketBytes, int maxInFlightRequests, ILogger logger, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(timeout);
        var socket = new Socket(SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
        try
        {
            await socket.ConnectAsync(host, port, deadline.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            socket.Dispose();
            throw new TimeoutException($"no connection to {host}:{port} within {timeout}");
        }
        catch
        {
            socket.Dispose();
            throw;
        }
        var connection = new ZooKeeperConnection(owner, socket, $"{host}:{port}", maxPacketBytes, maxInFlightRequests, logger);
        try
        {
            // ConnectRequest: protocolVersion, lastZxidSeen, timeOut, sessionId, passwd, readOnly.
            var w = new JuteWriter(64);
            w.WriteInt(0);
            w.WriteLong(lastZxidSeen);
            w.WriteInt((int)requestedTimeout.TotalMilliseconds);
            w.WriteLong(sessionId);
            w.WriteBuffer(password);
            w.WriteBool(false);
            var (buffer, length) = w.Finish();
            try
            {
                await connection._stream.WriteAsync(buffer.AsMemory(0, length), deadline.Token).ConfigureAwait(false);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
            var frame = await connection._frames.ReadFrameAsync(deadline.Token).ConfigureAwait(false);
            connection.Response = ConnectResponse.Parse(frame.Span);
            long now = Stopwatch.GetTimestamp();
            connection._lastSendTimestamp = now;
            connection._lastReceiveTimestamp = now;
            return connection;
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw new TimeoutException($"no handshake with {host}:{port} within {timeout}");
        }
        catch
        {
            await connection.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Re-registers watches after a reconnect (SetWatches, xid -8), before any queued request is written: the
    /// server fires those whose node changed after <paramref name="relativeZxid"/>.
    /// </summary>
    public async Task SendSetWatchesAsync(long relativeZxid, List<string> data, List<string> exists, List<string> child,
        CancellationToken ct)
    {
        int d = 0, e = 0, c = 0;
        while (d < data.Count || e < exists.Count || c < child.Count)
        {
            int budget = SetWatchesMaxPathBytes;
            int d0 = d, e0 = e, c0 = c;
            while (d < data.Count && budget > 0) budget -= data[d++].Length + 4;
            while (e < exists.Count && budget > 0) budget -= exists[e++].Length + 4;
            while (c < child.Count && budget > 0) budget -= child[c++].Length + 4;
            var w = PendingRequest.BeginFrame(OpCode.SetWatches, SetWatchesMaxPathBytes - budget + 32);
            w.WriteLong(relativeZxid);
            WriteVector(ref w, data, d0, d);
            WriteVector(ref w, exists, e0, e);
            WriteVector(ref w, child, c0, c);
            var (buffer, length) = w.Finish();
            try
            {
                BinaryPrimitives.WriteInt32BigEndian(buffer.AsSpan(4), SpecialXid.SetWatches);
                await _stream.WriteAsync(buffer.AsMemory(0, length), ct).ConfigureAwait(false);
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
        _lastSendTimestamp = Stopwatch.GetTimestamp();
    }

    private static void WriteVector(ref JuteWriter w, List<string> paths, int from, int to)
    {
        w.WriteInt(to - from);
        for (int i = from; i < to; i++) w.WriteString(paths[i]);
    }

    /// <summary>Runs both loops until the connection fails or <paramref name="ct"/> fires; returns the cause.</summary>
    public async Task<Exception> RunAsync(ChannelReader<PendingRequest> outgoing, TimeSpan sessionTimeout, CancellationToken ct)
    {
        using var stop = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var readLoop = ReadLoopAsync(stop.Token);
        var writeLoop = WriteLoopAsync(outgoing, sessionTimeout, stop.Token);
        var first = await Task.WhenAny(readLoop, writeLoop).ConfigureAwait(false);
        stop.Cancel();
        _socket.Dispose();
        try
        {
            await Task.WhenAll(readLoop, writeLoop).ConfigureAwait(false);
        }
        catch
        {
            // The cause is taken from the loop that ended first, below.
        }
        return first.Exception?.InnerException
               ?? (first.IsCanceled ? new OperationCanceledException(ct) : new EndOfStreamException("connection loop ended"));
    }

    /// <summary>After <see cref="RunAsync"/>: fails every request still waiting for its reply.</summary>
    public void FailSent(Exception error)
    {
        while (_sent.TryDequeue(out var request)) request.Fail(error);
    }

    private async Task WriteLoopAsync(ChannelReader<PendingRequest> outgoing, TimeSpan sessionTimeout, CancellationToken ct)
    {
        await Task.Yield();
        // Ping when nothing was sent for a third of the session timeout; give up on the server when nothing was
        // received for two thirds of it (ClientCnxn: readTimeout = 2/3, ping at readTimeout / 2).
        long pingIntervalTicks = (long)(sessionTimeout.TotalSeconds / 3 * Stopwatch.Frequency);
        long readTimeoutTicks = (long)(sessionTimeout.TotalSeconds * 2 / 3 * Stopwatch.Frequency);
        var batch = ArrayPool<byte>.Shared.Rent(WriteBatchBytes);
        Task<bool>? waitForWork = null;
        try
        {
            while (true)
            {
                ct.ThrowIfCancellationRequested();
                int used = 0;
                bool throttled = false;
                while (used < WriteBatchBytes)
                {
                    // Pipelining depth bound: a slot per written request, given back when its reply is read.
                    if (!_inFlightSlots.Wait(0))
                    {
                        throttled = true;
                        break;
                    }
                    if (!outgoing.TryRead(out var request))
                    {
                        _inFlightSlots.Release();
                        break;
                    }
                    if (!request.TryBeginSend(_owner.NextXid()))
                    {
                        _inFlightSlots.Release();
                        continue;
                    }
                    // In the FIFO before it is on the wire, so its reply always finds it.
                    _sent.Enqueue(request);
                    int length = request.FrameLength;
                    if (length > WriteBatchBytes - used)
                    {
                        if (used > 0)
                        {
                            await _stream.WriteAsync(batch.AsMemory(0, used), ct).ConfigureAwait(false);
                            used = 0;
                        }
                        if (length > WriteBatchBytes)
                        {
                            var large = ArrayPool<byte>.Shared.Rent(length);
                            try
                            {
                                request.Frame.CopyTo(large);
                                request.ReleaseFrame();
                                await _stream.WriteAsync(large.AsMemory(0, length), ct).ConfigureAwait(false);
                                _lastSendTimestamp = Stopwatch.GetTimestamp();
                            }
                            finally
                            {
                                ArrayPool<byte>.Shared.Return(large);
                            }
                            continue;
                        }
                    }
                    request.Frame.CopyTo(batch.AsSpan(used));
                    request.ReleaseFrame();
                    used += length;
                }
                long now = Stopwatch.GetTimestamp();
                if (used > 0)
                {
                    await _stream.WriteAsync(batch.AsMemory(0, used), ct).ConfigureAwait(false);
                    _lastSendTimestamp = Stopwatch.GetTimestamp();
                }
                long sinceReceive = now - Volatile.Read(ref _lastReceiveTimestamp);
                if (sinceReceive > readTimeoutTicks)
                    throw new TimeoutException($"nothing received from {Server} for {Stopwatch.GetElapsedTime(0, sinceReceive)}");
                if (used > 0) continue;
                long sinceSend = now - _lastSendTimestamp;
                if (sinceSend >= pingIntervalTicks)
                {
                    await _stream.WriteAsync(PingFrame, ct).ConfigureAwait(false);
                    _lastSendTimestamp = Stopwatch.GetTimestamp();
                    continue;
                }
                long waitTicks = Math.Max(1, Math.Min(pingIntervalTicks - sinceSend, readTimeoutTicks - sinceReceive + 1));
                if (throttled)
                {
                    if (await _inFlightSlots.WaitAsync(Stopwatch.GetElapsedTime(0, waitTicks), ct).ConfigureAwait(false))
                        _inFlightSlots.Release();
                    continue;
                }
                waitForWork ??= outgoing.WaitToReadAsync(ct).AsTask();
                var delay = Task.Delay(Stopwatch.GetElapsedTime(0, waitTicks), ct);
                if (await Task.WhenAny(waitForWork, delay).ConfigureAwait(false) == waitForWork)
                {
                    if (!await waitForWork.ConfigureAwait(false))
                        throw new ChannelClosedException("the client stopped accepting requests");
                    waitForWork = null;
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(batch);
        }
    }

    private async Task ReadLoopAsync(CancellationToken ct)
    {
        await Task.Yield();
        while (true)
        {
            var frame = await _frames.ReadFrameAsync(ct).ConfigureAwait(false);
            Volatile.Write(ref _lastReceiveTimestamp, Stopwatch.GetTimestamp());
            _owner.OnFrameReceived();
            var notification = ProcessFrame(frame.Span);
            if (notification is { } e) await _owner.EnqueueWatchEventAsync(e, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Handles one reply or notification; returns the notification to dispatch, if any.</summary>
    private WatchedEvent? ProcessFrame(ReadOnlySpan<byte> frame)
    {
        var r = new JuteReader(frame);
        // ReplyHeader: xid, zxid, err.
        int xid = r.ReadInt();
        long zxid = r.ReadLong();
        int err = r.ReadInt();
        switch (xid)
        {
            case SpecialXid.Ping:
                return null;
            case SpecialXid.Notification:
                // WatcherEvent: type, state, path (a server path: strip the chroot).
                int type = r.ReadInt();
                r.ReadInt();
                string serverPath = r.ReadNonNullString("watch path");
                if (type is < (int)WatchedEventType.NodeCreated or > (int)WatchedEventType.NodeChildrenChanged)
                {
                    _logger.LogWarning("Ignoring watch event of unknown type {EventType} for {Path}", type, serverPath);
                    return null;
                }
                _owner.Watches.OnEvent((WatchedEventType)type, serverPath);
                return new WatchedEvent((WatchedEventType)type, _owner.Paths.ToClient(serverPath));
            case SpecialXid.SetWatches:
                if (err != 0) _logger.LogWarning("SetWatches failed on {Server} with {Error}", Server, (ZooKeeperErrorCode)err);
                return null;
            case SpecialXid.Auth:
                return null;
        }
        if (!_sent.TryDequeue(out var request))
            throw new ProtocolException($"reply with xid {xid} while no request is pending");
        _inFlightSlots.Release();
        // Replies come in request order: anything else means the stream is out of sync.
        if (request.Xid != xid)
        {
            var mismatch = new ProtocolException($"reply xid {xid} does not match the oldest pending request xid {request.Xid}");
            request.Fail(mismatch);
            throw mismatch;
        }
        if (zxid > 0) _owner.OnZxidSeen(zxid);
        if (request.Watch != WatchKind.None && request.ServerPath is not null)
            _owner.Watches.OnReply(request.Watch, request.ServerPath, err);
        request.Complete(ref r, err, _owner.Paths);
        return null;
    }

    private static byte[] BuildPingFrame()
    {
        var frame = new byte[12];
        BinaryPrimitives.WriteInt32BigEndian(frame, 8);
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(4), SpecialXid.Ping);
        BinaryPrimitives.WriteInt32BigEndian(frame.AsSpan(8), OpCode.Ping);
        return frame;
    }

    public ValueTask DisposeAsync()
    {
        _socket.Dispose();
        _stream.Dispose();
        _frames.Dispose();
        _inFlightSlots.Dispose();
        return ValueTask.CompletedTask;
    }
}
