using System.Collections.Concurrent;
using System.Threading.Channels;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Pulsarish.Protocol.Bookie;
using StatusCode = Pulsarish.Protocol.Bookie.StatusCode;

namespace Pulsarish.Ledgers;

/// <summary>
/// The client side of one bookie: an HTTP/2 channel and one AddBatch stream shared by every ledger, requests matched
/// to answers by request id. Adds are queued (bounded by <see cref="LedgerClientOptions.MaxQueuedAddsPerBookie"/>) and
/// written by a single writer task, because a gRPC request stream is not thread-safe; each write carries every add
/// queued meanwhile (up to <see cref="LedgerClientOptions.MaxAddsPerBatchMessage"/> adds and
/// <see cref="LedgerClientOptions.MaxBatchMessageBytes"/>), as BookKeeper's client coalesces requests into one channel
/// write. When the stream breaks, every add in flight on it is answered ERROR and the next add opens a new stream
/// (re-resolving the address).
/// </summary>
internal sealed class BookieConnection : IAsyncDisposable
{
    private static readonly WriteOptions BufferHint = new(WriteFlags.BufferHint);

    private readonly string _bookieId;
    private readonly GrpcBookieClient _owner;
    private readonly Channel<QueuedAdd> _queue;
    private readonly CancellationTokenSource _stop = new();
    private readonly SemaphoreSlim _connectLock = new(1, 1);
    private readonly Task _writer;
    private GrpcChannel? _channel;
    private string? _address;
    private Bookie.BookieClient? _client;
    private volatile bool _stale;
    private long _nextRequestId;

    public BookieConnection(string bookieId, GrpcBookieClient owner)
    {
        _bookieId = bookieId;
        _owner = owner;
        _queue = Channel.CreateBounded<QueuedAdd>(new BoundedChannelOptions(owner.Options.MaxQueuedAddsPerBookie)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });
        _writer = Task.Run(WriteLoopAsync);
    }

    private sealed class QueuedAdd(AddRequest request, IAddCallback callback, object? context)
    {
        public readonly AddRequest Request = request;
        public readonly IAddCallback Callback = callback;
        public readonly object? Context = context;
        private int _answered;

        public void Answer(StatusCode status, string bookieId)
        {
            if (Interlocked.Exchange(ref _answered, 1) == 0)
            {
                Callback.AddComplete(status, bookieId, Request.LedgerId, Request.EntryId, Context);
            }
        }
    }

    /// <summary>One AddBatch stream and the adds written on it that wait for an answer.</summary>
    private sealed class AddStreamState(AsyncDuplexStreamingCall<AddBatchRequest, AddBatchResponse> call)
    {
        public readonly AsyncDuplexStreamingCall<AddBatchRequest, AddBatchResponse> Call = call;
        public readonly ConcurrentDictionary<ulong, QueuedAdd> InFlight = new();
        public volatile bool Broken;
    }

    public void Enqueue(in BookieAddRequest request, IAddCallback callback, object? context)
    {
        var add = new QueuedAdd(new AddRequest
        {
            RequestId = (ulong)Interlocked.Increment(ref _nextRequestId),
            LedgerId = request.LedgerId,
            EntryId = request.EntryId,
            MasterKey = UnsafeByteOperations.UnsafeWrap(request.MasterKey),
            Lac = request.Lac,
            Digest = request.Digest,
            Payload = UnsafeByteOperations.UnsafeWrap(request.Payload),
            Recovery = request.Recovery,
        }, callback, context);
        if (!_queue.Writer.TryWrite(add))
        {
            add.Answer(StatusCode.Error, _bookieId);
        }
    }

    /// <summary>The unary-call client, connecting first if needed.</summary>
    public async ValueTask<Bookie.BookieClient> GetClientAsync(CancellationToken ct)
    {
        var client = _client;
        if (client is not null && !_stale)
        {
            return client;
        }
        await _connectLock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_client is not null && !_stale)
            {
                return _client;
            }
            string address = await _owner.ResolveAsync(_bookieId, refresh: _stale || _address is null, ct).ConfigureAwait(false)
                ?? throw new InvalidOperationException($"bookie {_bookieId} is not registered");
            _stale = false;
            if (_client is not null && address == _address)
            {
                return _client;
            }
            _channel?.Dispose();
            _address = address;
            _channel = GrpcChannel.ForAddress("http://" + address, new GrpcChannelOptions
            {
                HttpHandler = new SocketsHttpHandler
                {
                    ConnectTimeout = _owner.Options.BookieConnectTimeout,
                    EnableMultipleHttp2Connections = true,
                    PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
                    KeepAlivePingDelay = TimeSpan.FromSeconds(30),
                    KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
                },
                MaxReceiveMessageSize = null,
                MaxSendMessageSize = null,
            });
            _client = new Bookie.BookieClient(_channel);
            return _client;
        }
        finally
        {
            _connectLock.Release();
        }
    }

    /// <summary>A call failed at the transport: re-resolve the address before the next connection.</summary>
    public void OnCallFailed(Exception ex)
    {
        if (ex is RpcException { StatusCode: Grpc.Core.StatusCode.Unavailable } or HttpRequestException or InvalidOperationException)
        {
            _stale = true;
        }
    }

    private async Task WriteLoopAsync()
    {
        AddStreamState? stream = null;
        var reader = _queue.Reader;
        int maxAdds = _owner.Options.MaxAddsPerBatchMessage;
        long maxBytes = _owner.Options.MaxBatchMessageBytes;
        // One message and one list for the connection's life: the message is serialized once WriteAsync completes.
        var message = new AddBatchRequest();
        var batch = new List<QueuedAdd>(Math.Min(maxAdds, 1024));
        try
        {
            while (await reader.WaitToReadAsync(_stop.Token).ConfigureAwait(false))
            {
                // Natural batching: whatever queued while the previous write was in progress, no added delay.
                long bytes = 0;
                while (batch.Count < maxAdds && bytes < maxBytes && reader.TryRead(out var add))
                {
                    batch.Add(add);
                    bytes += add.Request.Payload.Length;
                }
                if (batch.Count == 0)
                {
                    continue;
                }
                if (stream is null || stream.Broken)
                {
                    stream = await OpenStreamAsync().ConfigureAwait(false);
                    if (stream is null)
                    {
                        AnswerError(batch);
                        continue;
                    }
                }
                await WriteBatchAsync(stream, message, batch, moreQueued: reader.TryPeek(out _)).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException) when (_stop.IsCancellationRequested)
        {
        }
        finally
        {
            if (stream is not null)
            {
                BreakStream(stream);
            }
            AnswerError(batch);
            while (reader.TryRead(out var add))
            {
                add.Answer(StatusCode.Error, _bookieId);
            }
        }
    }

    /// <summary>Writes <paramref name="batch"/> as one message and empties it; on failure answers its adds ERROR.</summary>
    private async Task WriteBatchAsync(AddStreamState stream, AddBatchRequest message, List<QueuedAdd> batch, bool moreQueued)
    {
        var adds = message.Adds;
        foreach (var add in batch)
        {
            // Registered before the write: the answer may arrive before WriteAsync returns.
            stream.InFlight[add.Request.RequestId] = add;
            adds.Add(add.Request);
        }
        try
        {
            // Let gRPC coalesce a burst into fewer socket writes; the last message of the burst flushes.
            stream.Call.RequestStream.WriteOptions = moreQueued ? BufferHint : null;
            await stream.Call.RequestStream.WriteAsync(message).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _owner.Logger.LogDebug(ex, "Add stream to bookie {BookieId} broke while writing", _bookieId);
            BreakStream(stream);
        }
        finally
        {
            adds.Clear();
        }
        if (stream.Broken)
        {
            foreach (var add in batch)
            {
                if (stream.InFlight.TryRemove(add.Request.RequestId, out var orphan))
                {
                    orphan.Answer(StatusCode.Error, _bookieId);
                }
            }
        }
        batch.Clear();
    }

    private void AnswerError(List<QueuedAdd> batch)
    {
        foreach (var add in batch)
        {
            add.Answer(StatusCode.Error, _bookieId);
        }
        batch.Clear();
    }

    private async Task<AddStreamState?> OpenStreamAsync()
    {
        try
        {
            var client = await GetClientAsync(_stop.Token).ConfigureAwait(false);
            var state = new AddStreamState(client.AddBatch(cancellationToken: _stop.Token));
            _ = ReadLoopAsync(state);
            return state;
        }
        catch (Exception ex) when (!_stop.IsCancellationRequested)
        {
            _owner.Logger.LogDebug(ex, "Cannot open an add stream to bookie {BookieId}", _bookieId);
            OnCallFailed(ex);
            return null;
        }
    }

    private async Task ReadLoopAsync(AddStreamState state)
    {
        try
        {
            var responses = state.Call.ResponseStream;
            while (await responses.MoveNext(_stop.Token).ConfigureAwait(false))
            {
                var answers = responses.Current.Responses;
                for (int i = 0; i < answers.Count; i++)
                {
                    var response = answers[i];
                    if (state.InFlight.TryRemove(response.RequestId, out var add))
                    {
                        add.Answer(response.Status, _bookieId);
                    }
                }
            }
        }
        catch (Exception ex) when (ex is RpcException or OperationCanceledException or IOException or InvalidOperationException or HttpRequestException)
        {
            _owner.Logger.LogDebug(ex, "Add stream from bookie {BookieId} ended", _bookieId);
            OnCallFailed(ex);
        }
        BreakStream(state);
    }

    /// <summary>Marks the stream broken and answers ERROR to every add still waiting on it.</summary>
    private void BreakStream(AddStreamState state)
    {
        state.Broken = true;
        foreach (var requestId in state.InFlight.Keys)
        {
            if (state.InFlight.TryRemove(requestId, out var add))
            {
                add.Answer(StatusCode.Error, _bookieId);
            }
        }
        state.Call.Dispose();
        _stale = true;
    }

    public async ValueTask DisposeAsync()
    {
        _queue.Writer.TryComplete();
        _stop.Cancel();
        try
        {
            await _writer.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        _channel?.Dispose();
        _stop.Dispose();
    }
}
