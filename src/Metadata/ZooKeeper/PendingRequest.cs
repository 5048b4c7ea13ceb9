using System.Buffers;
using System.Buffers.Binary;
using Pulsarish.Protocol.Errors;

namespace Pulsarish.Metadata.ZooKeeper;

/// <summary>
/// One request from submission to reply. Life cycle: Queued (in the client's outgoing channel) → Sent (written,
/// waiting in the connection's FIFO) → Done. Exactly one party wins each transition, so the encoded frame is
/// returned to the pool exactly once and the caller's task completes exactly once.
/// </summary>
internal abstract class PendingRequest
{
    private const int Queued = 0, Sent = 1, Done = 2;
    private int _state;
    private byte[]? _frame;
    private int _frameLength;
    private CancellationTokenRegistration _cancellation;

    protected PendingRequest(int opCode, string clientPath, string? serverPath, WatchKind watch, long expectedVersion)
    {
        OpCode = opCode;
        ClientPath = clientPath;
        ServerPath = serverPath;
        Watch = watch;
        ExpectedVersion = expectedVersion;
    }

    public int OpCode { get; }
    public string ClientPath { get; }
    public string? ServerPath { get; }
    public WatchKind Watch { get; }
    public long ExpectedVersion { get; }
    public int Xid { get; private set; }
    public long EnqueuedTimestamp { get; private set; }

    /// <summary>True when the parser must see error replies too (exists, multi).</summary>
    protected virtual bool ParsesErrors => false;

    /// <summary>Starts the frame: length placeholder, xid placeholder, op code.</summary>
    public static JuteWriter BeginFrame(int opCode, int bodyBytesHint)
    {
        var w = new JuteWriter(12 + bodyBytesHint);
        w.WriteInt(0);
        w.WriteInt(opCode);
        return w;
    }

    public void AttachFrame(ref JuteWriter writer)
    {
        (_frame, _frameLength) = writer.Finish();
    }

    public int FrameLength => _frameLength;

    public void MarkEnqueued(CancellationToken ct)
    {
        EnqueuedTimestamp = System.Diagnostics.Stopwatch.GetTimestamp();
        if (ct.CanBeCanceled)
            _cancellation = ct.UnsafeRegister(static (s, token) => ((PendingRequest)s!).OnCancelled(token), this);
    }

    /// <summary>
    /// Writer only: claims the request for sending and stamps <paramref name="xid"/> into its frame. False when the
    /// request was already abandoned (cancelled, timed out, failed); then it must be skipped.
    /// </summary>
    public bool TryBeginSend(int xid)
    {
        if (Interlocked.CompareExchange(ref _state, Sent, Queued) != Queued) return false;
        Xid = xid;
        BinaryPrimitives.WriteInt32BigEndian(_frame.AsSpan(4), xid);
        return true;
    }

    public ReadOnlySpan<byte> Frame => _frame.AsSpan(0, _frameLength);

    /// <summary>Writer only, after the frame was copied out.</summary>
    public void ReleaseFrame()
    {
        var frame = Interlocked.Exchange(ref _frame, null);
        if (frame is not null) ArrayPool<byte>.Shared.Return(frame);
    }

    /// <summary>Fails the request if it was never sent (still queued). Returns false if it was already sent or done.</summary>
    public bool TryAbandonQueued(Exception error)
    {
        if (Interlocked.CompareExchange(ref _state, Done, Queued) != Queued) return false;
        ReleaseFrame();
        SetFailed(error);
        return true;
    }

    /// <summary>Fails the request whatever its state (connection loss after sending, expiry, close).</summary>
    public void Fail(Exception error)
    {
        int previous = Interlocked.Exchange(ref _state, Done);
        if (previous == Done) return;
        if (previous == Queued) ReleaseFrame();
        SetFailed(error);
    }

    /// <summary>Reader only: completes a sent request from its reply body.</summary>
    public void Complete(ref JuteReader body, int err, ConnectString paths)
    {
        if (Interlocked.Exchange(ref _state, Done) == Done) return;
        if (err != 0 && !ParsesErrors)
        {
            SetFailed(ZooKeeperErrors.ToException(err, ClientPath, ExpectedVersion));
            return;
        }
        try
        {
            SetResult(ref body, err, paths);
        }
        catch (ProtocolException e)
        {
            SetFailed(e);
            throw;
        }
    }

    private void OnCancelled(CancellationToken token)
    {
        if (TryAbandonQueued(new OperationCanceledException(token))) return;
        // Already sent: the reply will still arrive in order and is then dropped; the caller stops waiting now.
        SetCancelled(token);
    }

    protected void DisposeCancellation() => _cancellation.Dispose();

    protected abstract void SetResult(ref JuteReader body, int err, ConnectString paths);
    protected abstract void SetFailed(Exception error);
    protected abstract void SetCancelled(CancellationToken token);
}

/// <summary>Decodes a reply body into a result.</summary>
internal delegate T ReplyParser<T>(ref JuteReader body, int err, PendingRequest request, ConnectString paths);

/// <summary>A request whose reply decodes to <typeparamref name="T"/>.</summary>
internal sealed class PendingRequest<T> : PendingRequest
{
    private readonly TaskCompletionSource<T> _completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private readonly ReplyParser<T> _parser;
    private readonly bool _parsesErrors;

    public PendingRequest(int opCode, string clientPath, string? serverPath, WatchKind watch, long expectedVersion,
        ReplyParser<T> parser, bool parsesErrors = false)
        : base(opCode, clientPath, serverPath, watch, expectedVersion)
    {
        _parser = parser;
        _parsesErrors = parsesErrors;
    }

    public Task<T> Task => _completion.Task;

    protected override bool ParsesErrors => _parsesErrors;

    protected override void SetResult(ref JuteReader body, int err, ConnectString paths)
    {
        T result;
        try
        {
            result = _parser(ref body, err, this, paths);
        }
        catch (ProtocolException)
        {
            throw;
        }
        catch (Exception e)
        {
            // A parser maps a server error to a typed exception (multi).
            SetFailed(e);
            return;
        }
        DisposeCancellation();
        _completion.TrySetResult(result);
    }

    protected override void SetFailed(Exception error)
    {
        DisposeCancellation();
        _completion.TrySetException(error);
    }

    protected override void SetCancelled(CancellationToken token)
    {
        _completion.TrySetCanceled(token);
    }
}
