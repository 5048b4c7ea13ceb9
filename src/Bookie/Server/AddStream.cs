using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Threading.Channels;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Pulsarish.Bookie.Storage;
using Pulsarish.Protocol.Bookie;
using StatusCode = Pulsarish.Protocol.Bookie.StatusCode;

namespace Pulsarish.Bookie.Server;

/// <summary>
/// One client's Add or AddBatch stream. Requests are read in order and handed to storage without waiting for earlier
/// ones (pipelined: up to <see cref="BookieOptions.MaxInFlightAddsPerStream"/> adds in flight, counted per entry also
/// when entries come many per AddBatch message). Completions arrive on storage's journal thread and are queued to a
/// bounded channel drained by a single writer task, because <see cref="IServerStreamWriter{T}"/> is not thread-safe:
/// on an Add stream it writes one message per answer, on an AddBatch stream every answer queued since its last write
/// (up to <see cref="BookieOptions.MaxAddResponsesPerMessage"/>) goes into one message. A slot of the in-flight window
/// is released only once its answer is on the wire, so a client that stops reading responses stops being read.
/// </summary>
internal sealed class AddStream
{
    private static readonly WriteOptions BufferHint = new(WriteFlags.BufferHint);

    private readonly ILedgerStorage _storage;
    private readonly BookieOptions _options;
    private readonly BookieState _state;
    private readonly BookieMetrics _metrics;
    private readonly ILogger _logger;
    private readonly Channel<AddResponse> _responses;
    private readonly SemaphoreSlim _window;
    // Pools bounded by the window: at most MaxInFlightAddsPerStream of each exist per stream.
    private readonly ConcurrentQueue<AddResponse> _freeResponses = new();
    private readonly ConcurrentQueue<PendingAdd> _freePending = new();
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Adds handed to storage and not completed, plus one held by the reading loop until it ends.
    private int _pendingAdds = 1;

    public AddStream(ILedgerStorage storage, BookieOptions options, BookieState state, BookieMetrics metrics,
        ILogger logger)
    {
        _storage = storage;
        _options = options;
        _state = state;
        _metrics = metrics;
        _logger = logger;
        _window = new SemaphoreSlim(options.MaxInFlightAddsPerStream, options.MaxInFlightAddsPerStream);
        _responses = Channel.CreateBounded<AddResponse>(new BoundedChannelOptions(options.MaxInFlightAddsPerStream)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    /// <summary>Serves an Add stream: one request and one response message per entry.</summary>
    public Task RunAsync(IAsyncStreamReader<AddRequest> requests, IServerStreamWriter<AddResponse> writer,
        CancellationToken ct)
        => RunAsync(token => ReadSingleAsync(requests, token), WriteSingleAsync(writer), ct);

    /// <summary>Serves an AddBatch stream: many entries per request message, many answers per response message.</summary>
    public Task RunBatchAsync(IAsyncStreamReader<AddBatchRequest> requests, IServerStreamWriter<AddBatchResponse> writer,
        CancellationToken ct)
        => RunAsync(token => ReadBatchesAsync(requests, token), WriteBatchesAsync(writer), ct);

    /// <summary>
    /// Reads requests until the client completes the stream, the call ends, or the bookie stops (then the call ends
    /// with UNAVAILABLE once every add read so far is answered).
    /// </summary>
    private async Task RunAsync(Func<CancellationToken, Task> read, Task writing, CancellationToken ct)
    {
        using var call = CancellationTokenSource.CreateLinkedTokenSource(ct, _state.Stopping);
        bool stopped = false;
        try
        {
            await read(call.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_state.Stopping.IsCancellationRequested && !ct.IsCancellationRequested)
        {
            stopped = true;
        }
        finally
        {
            // In-flight adds own pooled buffers and must answer before the call ends.
            if (Interlocked.Decrement(ref _pendingAdds) == 0)
            {
                _drained.TrySetResult();
            }

            await _drained.Task.ConfigureAwait(false);
            _responses.Writer.TryComplete();
            await writing.ConfigureAwait(false);
        }

        if (stopped)
        {
            // Every add read so far has been answered; the writer reconnects to another bookie or after restart.
            throw new RpcException(new Status(Grpc.Core.StatusCode.Unavailable, "bookie is shutting down"));
        }
    }

    private async Task ReadSingleAsync(IAsyncStreamReader<AddRequest> requests, CancellationToken ct)
    {
        while (await requests.MoveNext(ct).ConfigureAwait(false))
        {
            _metrics.AddRequestMessages.Inc();
            await _window.WaitAsync(ct).ConfigureAwait(false);
            Dispatch(requests.Current);
        }
    }

    private async Task ReadBatchesAsync(IAsyncStreamReader<AddBatchRequest> requests, CancellationToken ct)
    {
        while (await requests.MoveNext(ct).ConfigureAwait(false))
        {
            _metrics.AddRequestMessages.Inc();
            var adds = requests.Current.Adds;
            for (int i = 0; i < adds.Count; i++)
            {
                // The window counts entries, not messages: a full window stops the reading mid-batch.
                if (!_window.Wait(0))
                {
                    await _window.WaitAsync(ct).ConfigureAwait(false);
                }

                Dispatch(adds[i]);
            }
        }
    }

    private void Dispatch(AddRequest request)
    {
        StatusCode status = Admit(request.LedgerId, request.EntryId, request.Lac, request.Digest, request.Payload.Span,
            request.MasterKey.Length, request.Recovery, _options, _state, out string? message);
        if (status != StatusCode.Ok)
        {
            Respond(request, status, message);
            return;
        }

        int length = StoredEntry.EncodedLength(request.Payload.Length);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(length);
        StoredEntry.Encode(request.Lac, request.Digest, request.Payload.Span, buffer);
        long startTimestamp = Stopwatch.GetTimestamp();
        Interlocked.Increment(ref _pendingAdds);
        _state.AddStarted();
        ValueTask add;
        try
        {
            add = _storage.AddEntryAsync(request.LedgerId, request.EntryId, request.MasterKey.Memory, request.Lac,
                buffer.AsMemory(0, length), request.Recovery, CancellationToken.None);
        }
        catch (Exception ex)
        {
            Complete(request, buffer, startTimestamp, ex);
            return;
        }

        var pending = RentPending();
        pending.Request = request;
        pending.Buffer = buffer;
        pending.StartTimestamp = startTimestamp;
        pending.Start(add);
    }

    /// <summary>
    /// Whether the bookie takes an add now: OK, or the status and message to answer with (shutting down, invalid,
    /// read-only for a normal add). Shared with <see cref="LocalBookie"/>.
    /// </summary>
    internal static StatusCode Admit(long ledgerId, long entryId, long lac, uint digest, ReadOnlySpan<byte> payload,
        int masterKeyLength, bool recovery, BookieOptions options, BookieState state, out string? message)
    {
        if (state.ShuttingDown)
        {
            message = "bookie is shutting down";
            return StatusCode.ShuttingDown;
        }

        StatusCode status = AddRequestValidator.Validate(ledgerId, entryId, lac, digest, payload, masterKeyLength, options,
            out message);
        if (status == StatusCode.Ok && state.ReadOnly && !recovery)
        {
            // A read-only bookie still takes recovery adds, as BookKeeper's high-priority writes.
            message = "bookie is read-only";
            return StatusCode.ReadOnly;
        }

        return status;
    }

    /// <summary>
    /// The answer to an add storage finished (<paramref name="failure"/> null when durable): records metrics, logs
    /// unexpected failures, and releases the add's slot in <paramref name="state"/>. Shared with <see cref="LocalBookie"/>.
    /// </summary>
    internal static StatusCode Outcome(long ledgerId, long entryId, int payloadBytes, long startTimestamp,
        Exception? failure, BookieState state, BookieMetrics metrics, ILogger logger, out string? message)
    {
        state.AddFinished();
        message = null;
        if (failure is null)
        {
            metrics.AddLatency.Observe(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds);
            metrics.AddedBytes.Inc(payloadBytes);
            return StatusCode.Ok;
        }

        message = failure.Message;
        if (!StatusMapper.IsExpected(failure))
        {
            logger.LogError(failure, "Add of {LedgerId}:{EntryId} failed", ledgerId, entryId);
        }

        return StatusMapper.ToStatus(failure);
    }

    private void Complete(AddRequest request, byte[] buffer, long startTimestamp, Exception? failure)
    {
        ArrayPool<byte>.Shared.Return(buffer);
        StatusCode status = Outcome(request.LedgerId, request.EntryId, request.Payload.Length, startTimestamp, failure,
            _state, _metrics, _logger, out string? message);
        Respond(request, status, message);
        if (Interlocked.Decrement(ref _pendingAdds) == 0)
        {
            _drained.TrySetResult();
        }
    }

    private void Respond(AddRequest request, StatusCode status, string? message)
    {
        _metrics.CountAdd(status);
        if (!_freeResponses.TryDequeue(out var response))
        {
            response = new AddResponse();
        }

        response.RequestId = request.RequestId;
        response.LedgerId = request.LedgerId;
        response.EntryId = request.EntryId;
        response.Status = status;
        response.Message = message ?? "";

        // Never blocks: every queued response holds a window slot, and the channel has one place per slot.
        bool queued = _responses.Writer.TryWrite(response);
        Debug.Assert(queued, "response channel holds one place per in-flight window slot");
    }

    private async Task WriteSingleAsync(IServerStreamWriter<AddResponse> writer)
    {
        var reader = _responses.Reader;
        bool broken = false;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (reader.TryRead(out var response))
            {
                // Flush only when nothing else is queued: one flush covers a whole group commit.
                broken = broken || !await TryWriteAsync(writer, response, moreQueued: reader.Count > 0).ConfigureAwait(false);
                // Serialized by now: the message object can carry the next response.
                _freeResponses.Enqueue(response);
                _window.Release();
            }
        }
    }

    private async Task WriteBatchesAsync(IServerStreamWriter<AddBatchResponse> writer)
    {
        var reader = _responses.Reader;
        // One message object for the stream's life: it is serialized by the time WriteAsync completes.
        var message = new AddBatchResponse();
        var answers = message.Responses;
        bool broken = false;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (answers.Count < _options.MaxAddResponsesPerMessage && reader.TryRead(out var response))
            {
                answers.Add(response);
            }

            if (answers.Count == 0)
            {
                continue;
            }

            broken = broken || !await TryWriteAsync(writer, message, moreQueued: reader.Count > 0).ConfigureAwait(false);
            int written = answers.Count;
            for (int i = 0; i < written; i++)
            {
                _freeResponses.Enqueue(answers[i]);
            }

            answers.Clear();
            _window.Release(written);
        }
    }

    /// <summary>Writes one message; false once the stream is closed (later answers are dropped, their slots freed).</summary>
    private async ValueTask<bool> TryWriteAsync<T>(IServerStreamWriter<T> writer, T message, bool moreQueued)
    {
        try
        {
            writer.WriteOptions = moreQueued ? BufferHint : null;
            await writer.WriteAsync(message).ConfigureAwait(false);
            _metrics.AddResponseMessages.Inc();
            return true;
        }
        catch (Exception ex)
        {
            _logger.LogDebug(ex, "Add stream closed while writing responses");
            return false;
        }
    }

    private PendingAdd RentPending() => _freePending.TryDequeue(out var pending) ? pending : new PendingAdd(this);

    /// <summary>One add of this stream awaiting storage (pooled per stream).</summary>
    private sealed class PendingAdd(AddStream stream) : PooledAddAwaiter
    {
        private readonly AddStream _stream = stream;

        public AddRequest Request { get; set; } = null!;

        public byte[] Buffer { get; set; } = null!;

        public long StartTimestamp { get; set; }

        protected override void Completed(Exception? failure)
        {
            var request = Request;
            var buffer = Buffer;
            long startTimestamp = StartTimestamp;
            Request = null!;
            Buffer = null!;
            _stream._freePending.Enqueue(this);
            _stream.Complete(request, buffer, startTimestamp, failure);
        }
    }
}
