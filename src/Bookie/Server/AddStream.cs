using System.Buffers;
using System.Diagnostics;
using System.Threading.Channels;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Pulsarish.Bookie.Storage;
using Pulsarish.Protocol.Bookie;
using StatusCode = Pulsarish.Protocol.Bookie.StatusCode;

namespace Pulsarish.Bookie.Server;

/// <summary>
/// One client's Add stream. Requests are read in order and handed to storage without waiting for earlier ones
/// (pipelined: up to <see cref="BookieOptions.MaxInFlightAddsPerStream"/> adds in flight). Completions arrive on
/// storage's journal thread and are queued to a bounded channel drained by a single writer task, because
/// <see cref="IServerStreamWriter{T}"/> is not thread-safe. A slot of the in-flight window is released only once
/// its response is on the wire, so a client that stops reading responses stops being read.
/// </summary>
internal sealed class AddStream
{
    private static readonly WriteOptions BufferHint = new(WriteFlags.BufferHint);

    private readonly ILedgerStorage _storage;
    private readonly BookieOptions _options;
    private readonly BookieState _state;
    private readonly BookieMetrics _metrics;
    private readonly ILogger _logger;
    private readonly IServerStreamWriter<AddResponse> _writer;
    private readonly Channel<AddResponse> _responses;
    private readonly SemaphoreSlim _window;
    private readonly TaskCompletionSource _drained = new(TaskCreationOptions.RunContinuationsAsynchronously);

    // Adds handed to storage and not completed, plus one held by the reading loop until it ends.
    private int _pendingAdds = 1;

    public AddStream(ILedgerStorage storage, BookieOptions options, BookieState state, BookieMetrics metrics,
        ILogger logger, IServerStreamWriter<AddResponse> writer)
    {
        _storage = storage;
        _options = options;
        _state = state;
        _metrics = metrics;
        _logger = logger;
        _writer = writer;
        _window = new SemaphoreSlim(options.MaxInFlightAddsPerStream, options.MaxInFlightAddsPerStream);
        _responses = Channel.CreateBounded<AddResponse>(new BoundedChannelOptions(options.MaxInFlightAddsPerStream)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    /// <summary>Reads requests until the client completes the stream or the call ends, then drains.</summary>
    public async Task RunAsync(IAsyncStreamReader<AddRequest> requests, CancellationToken ct)
    {
        var writing = WriteResponsesAsync();
        try
        {
            while (await requests.MoveNext(ct).ConfigureAwait(false))
            {
                await _window.WaitAsync(ct).ConfigureAwait(false);
                Dispatch(requests.Current);
            }
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
    }

    private void Dispatch(AddRequest request)
    {
        StatusCode status;
        string? message;
        if (_state.ShuttingDown)
        {
            status = StatusCode.ShuttingDown;
            message = "bookie is shutting down";
        }
        else
        {
            status = AddRequestValidator.Validate(request, _options, out message);
            if (status == StatusCode.Ok && _state.ReadOnly && !request.Recovery)
            {
                // A read-only bookie still takes recovery adds, as BookKeeper's high-priority writes.
                status = StatusCode.ReadOnly;
                message = "bookie is read-only";
            }
        }

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

        if (add.IsCompletedSuccessfully)
        {
            Complete(request, buffer, startTimestamp, null);
        }
        else
        {
            _ = AwaitAddAsync(add, request, buffer, startTimestamp);
        }
    }

    private async Task AwaitAddAsync(ValueTask add, AddRequest request, byte[] buffer, long startTimestamp)
    {
        Exception? failure = null;
        try
        {
            await add.ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            failure = ex;
        }

        Complete(request, buffer, startTimestamp, failure);
    }

    private void Complete(AddRequest request, byte[] buffer, long startTimestamp, Exception? failure)
    {
        ArrayPool<byte>.Shared.Return(buffer);
        _state.AddFinished();
        StatusCode status;
        string? message = null;
        if (failure is null)
        {
            status = StatusCode.Ok;
            _metrics.AddLatency.Observe(Stopwatch.GetElapsedTime(startTimestamp).TotalSeconds);
            _metrics.AddedBytes.Inc(request.Payload.Length);
        }
        else
        {
            status = StatusMapper.ToStatus(failure);
            message = failure.Message;
            if (!StatusMapper.IsExpected(failure))
            {
                _logger.LogError(failure, "Add of {LedgerId}:{EntryId} failed", request.LedgerId, request.EntryId);
            }
        }

        Respond(request, status, message);
        if (Interlocked.Decrement(ref _pendingAdds) == 0)
        {
            _drained.TrySetResult();
        }
    }

    private void Respond(AddRequest request, StatusCode status, string? message)
    {
        _metrics.CountAdd(status);
        var response = new AddResponse
        {
            RequestId = request.RequestId,
            LedgerId = request.LedgerId,
            EntryId = request.EntryId,
            Status = status,
        };
        if (message is not null)
        {
            response.Message = message;
        }

        // Never blocks: every queued response holds a window slot, and the channel has one place per slot.
        bool queued = _responses.Writer.TryWrite(response);
        Debug.Assert(queued, "response channel holds one place per in-flight window slot");
    }

    private async Task WriteResponsesAsync()
    {
        var reader = _responses.Reader;
        bool broken = false;
        while (await reader.WaitToReadAsync().ConfigureAwait(false))
        {
            while (reader.TryRead(out var response))
            {
                if (!broken)
                {
                    try
                    {
                        // Flush only when nothing else is queued: one flush covers a whole group commit.
                        _writer.WriteOptions = reader.Count > 0 ? BufferHint : null;
                        await _writer.WriteAsync(response).ConfigureAwait(false);
                    }
                    catch (Exception ex)
                    {
                        broken = true;
                        _logger.LogDebug(ex, "Add stream closed while writing responses");
                    }
                }

                _window.Release();
            }
        }
    }
}
