using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Pulsarish.Bookie.Storage;
using Pulsarish.Protocol.Checksums;
using Pulsarish.Protocol.Bookie;
using StatusCode = Pulsarish.Protocol.Bookie.StatusCode;

namespace Pulsarish.Bookie.Server;

/// <summary>
/// The Bookie gRPC service (proto/bookie.proto): translates wire messages to <see cref="ILedgerStorage"/> calls and
/// back. Per-entry outcomes travel in response status fields; a bad request never ends a stream. Exceptions are
/// mapped to statuses by <see cref="StatusMapper"/> only.
/// </summary>
public sealed class BookieService : Stubs.Bookie.BookieBase
{
    private readonly ILedgerStorage _storage;
    private readonly BookieOptions _options;
    private readonly BookieState _state;
    private readonly BookieMetrics _metrics;
    /// <summary>How long a call whose stream failed waits for Kestrel to signal the client's cancellation.</summary>
    private static readonly TimeSpan CancellationSignalGrace = TimeSpan.FromSeconds(1);

    private readonly ILogger<BookieService> _logger;

    public BookieService(ILedgerStorage storage, BookieOptions options, BookieState state, BookieMetrics metrics,
        ILogger<BookieService> logger)
    {
        _storage = storage;
        _options = options;
        _state = state;
        _metrics = metrics;
        _logger = logger;
    }

    /// <inheritdoc />
    public override Task Add(IAsyncStreamReader<AddRequest> requestStream,
        IServerStreamWriter<AddResponse> responseStream, ServerCallContext context)
        => ServeAddStreamAsync(stream => stream.RunAsync(requestStream, responseStream, context.CancellationToken), context, "Add");

    /// <inheritdoc />
    public override Task AddBatch(IAsyncStreamReader<AddBatchRequest> requestStream,
        IServerStreamWriter<AddBatchResponse> responseStream, ServerCallContext context)
        => ServeAddStreamAsync(stream => stream.RunBatchAsync(requestStream, responseStream, context.CancellationToken), context, "AddBatch");

    private async Task ServeAddStreamAsync(Func<AddStream, Task> serve, ServerCallContext context, string method)
    {
        _state.AddStreamOpened();
        try
        {
            await serve(new AddStream(_storage, _options, _state, _metrics, _logger)).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException)
        {
            await EndCancelledCallAsync(ex, context, method).ConfigureAwait(false);
        }
        finally
        {
            _state.AddStreamClosed();
        }
    }

    /// <summary>
    /// A client that cancels or resets its call (a broker closing a ledger or shutting down) is expected, not an
    /// error: reading or writing the stream then fails with IOException ("The client reset the request stream"),
    /// OperationCanceledException or, writing, InvalidOperationException ("the request is complete"), logged here at
    /// Debug. Kestrel fails the stream at once but signals the call's
    /// cancellation from the thread pool, so ASP.NET Core's gRPC handler — which logs such exceptions at Error unless
    /// the call is already cancelled — can see the exception first; we wait briefly for the signal. Anything else
    /// is rethrown.
    /// </summary>
    private async Task EndCancelledCallAsync(Exception ex, ServerCallContext context, string method)
    {
        if (!context.CancellationToken.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(CancellationSignalGrace, context.CancellationToken).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                // Signalled.
            }
        }
        if (!context.CancellationToken.IsCancellationRequested)
        {
            System.Runtime.ExceptionServices.ExceptionDispatchInfo.Throw(ex);
        }
        _logger.LogDebug("{Method} call ended by the client: {Error}", method, ex.Message);
    }
    /// <inheritdoc />
    public override Task<ReadEntryResponse> ReadEntry(ReadEntryRequest request, ServerCallContext context)
        => ReadEntryAsync(request, context.CancellationToken);

    /// <summary>ReadEntry without a call context (also <see cref="LocalBookie"/>'s read).</summary>
    internal async Task<ReadEntryResponse> ReadEntryAsync(ReadEntryRequest request, CancellationToken ct)
    {
        var response = new ReadEntryResponse { LedgerId = request.LedgerId, EntryId = request.EntryId };
        if (request.LedgerId < 0 || request.EntryId < 0)
        {
            return Fail(response, StatusCode.BadRequest, "ledger and entry ids must not be negative");
        }

        try
        {
            if (request.Fence)
            {
                // Recovery read: the ledger is durably fenced before the entry is read — DESIGN §4 step 2.
                await _storage.FenceAsync(request.LedgerId, request.MasterKey.Memory, ct).ConfigureAwait(false);
            }

            var stored = await _storage.ReadEntryAsync(request.LedgerId, request.EntryId, ct)
                .ConfigureAwait(false);
            return FillEntry(response, stored);
        }
        catch (Exception ex)
        {
            return Fail(response, ex);
        }
    }

    /// <inheritdoc />
    public override async Task ReadRange(ReadRangeRequest request, IServerStreamWriter<ReadEntryResponse> responseStream,
        ServerCallContext context)
    {
        try
        {
            await ReadRangeAsync(request, responseStream, context.CancellationToken).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is IOException or OperationCanceledException or InvalidOperationException)
        {
            // A write after the client's reset fails with InvalidOperationException ("the request is complete").
            await EndCancelledCallAsync(ex, context, "ReadRange").ConfigureAwait(false);
        }
    }

    private async Task ReadRangeAsync(ReadRangeRequest request, IServerStreamWriter<ReadEntryResponse> responseStream,
        CancellationToken ct)
    {
        if (request.LedgerId < 0 || request.FirstEntryId < 0 || request.LastEntryId < request.FirstEntryId
            || request.MaxBytes < 0)
        {
            var bad = new ReadEntryResponse { LedgerId = request.LedgerId, EntryId = request.FirstEntryId };
            await responseStream.WriteAsync(Fail(bad, StatusCode.BadRequest,
                "need 0 <= first_entry_id <= last_entry_id, ledger_id >= 0, max_bytes >= 0")).ConfigureAwait(false);
            return;
        }

        long sentBytes = 0;
        for (long entryId = request.FirstEntryId; entryId <= request.LastEntryId; entryId++)
        {
            var response = new ReadEntryResponse { LedgerId = request.LedgerId, EntryId = entryId };
            if (_state.ShuttingDown)
            {
                await responseStream.WriteAsync(Fail(response, StatusCode.ShuttingDown, "bookie is shutting down"))
                    .ConfigureAwait(false);
                return;
            }

            byte[] stored;
            try
            {
                stored = await _storage.ReadEntryAsync(request.LedgerId, entryId, ct)
                    .ConfigureAwait(false);
            }
            catch (Exception ex) when (!(ex is OperationCanceledException && ct.IsCancellationRequested))
            {
                // Stops at the first missing entry; the last message carries its status.
                await responseStream.WriteAsync(Fail(response, ex)).ConfigureAwait(false);
                return;
            }

            int payloadBytes = stored.Length - StoredEntry.HeaderBytes;
            if (request.MaxBytes > 0 && sentBytes > 0 && sentBytes + payloadBytes > request.MaxBytes)
            {
                return;
            }

            FillEntry(response, stored);
            await responseStream.WriteAsync(response).ConfigureAwait(false);
            if (response.Status != StatusCode.Ok)
            {
                return;
            }

            sentBytes += payloadBytes;
        }
    }

    /// <inheritdoc />
    public override Task<ReadLacResponse> ReadLac(ReadLacRequest request, ServerCallContext context)
        => Task.FromResult(ReadLac(request));

    /// <summary>ReadLac without a call context (also <see cref="LocalBookie"/>'s).</summary>
    internal ReadLacResponse ReadLac(ReadLacRequest request)
    {
        var response = new ReadLacResponse { Lac = -1, LastEntryId = -1 };
        if (request.LedgerId < 0)
        {
            response.Status = StatusCode.BadRequest;
            return response;
        }

        try
        {
            var info = _storage.GetLedgerInfo(request.LedgerId);
            if (info is not { } known)
            {
                response.Status = StatusCode.NoSuchLedger;
            }
            else
            {
                response.Lac = known.Lac;
                response.LastEntryId = known.LastEntryId;
                response.Fenced = known.Fenced;
            }
        }
        catch (Exception ex)
        {
            response.Status = Map(ex, "ReadLac", request.LedgerId);
        }

        return response;
    }

    /// <inheritdoc />
    public override Task<FenceResponse> Fence(FenceRequest request, ServerCallContext context)
        => FenceAsync(request, context.CancellationToken);

    /// <summary>Fence without a call context (also <see cref="LocalBookie"/>'s).</summary>
    internal async Task<FenceResponse> FenceAsync(FenceRequest request, CancellationToken ct)
    {
        var response = new FenceResponse { Lac = -1, LastEntryId = -1 };
        if (request.LedgerId < 0)
        {
            response.Status = StatusCode.BadRequest;
            response.Message = "ledger id must not be negative";
            return response;
        }

        try
        {
            // Fence-and-read-LAC: durable in the journal before we answer — DESIGN §4 step 2.
            var info = await _storage.FenceAsync(request.LedgerId, request.MasterKey.Memory, ct).ConfigureAwait(false);
            response.Lac = info.Lac;
            response.LastEntryId = info.LastEntryId;
        }
        catch (Exception ex)
        {
            response.Status = Map(ex, "Fence", request.LedgerId);
            response.Message = ex.Message;
        }

        return response;
    }

    /// <inheritdoc />
    public override Task<BookieInfoResponse> GetInfo(BookieInfoRequest request, ServerCallContext context)
    {
        var response = new BookieInfoResponse
        {
            BookieId = _state.BookieId,
            FreeDiskBytes = _state.FreeDiskBytes,
            TotalDiskBytes = _state.TotalDiskBytes,
            ReadOnly = _state.ReadOnly,
            AllocatedBytes = GC.GetTotalAllocatedBytes(),
        };
        var stats = _storage.GetStats();
        response.JournalQueueLength = stats.JournalQueueLength;
        response.WriteCacheBytes = stats.WriteCacheBytes;

        return Task.FromResult(response);
    }

    private ReadEntryResponse FillEntry(ReadEntryResponse response, byte[] stored)
    {
        if (!StoredEntry.TryDecode(stored, out var entry))
        {
            return Fail(response, StatusCode.Corrupt, "stored entry shorter than its header");
        }

        // Bookies verify the writer's digest on read too, so corruption is reported, not served — DESIGN §5.
        if (!EntryDigest.Verify(response.LedgerId, response.EntryId, entry.Lac, entry.Payload, entry.Digest))
        {
            _logger.LogError("Stored entry {LedgerId}:{EntryId} fails its digest", response.LedgerId, response.EntryId);
            return Fail(response, StatusCode.Corrupt, "stored entry fails its digest");
        }

        response.Status = StatusCode.Ok;
        response.Lac = entry.Lac;
        response.Digest = entry.Digest;
        // The array is ours (ILedgerStorage.ReadEntryAsync returns a fresh one): wrap it without copying.
        response.Payload = UnsafeByteOperations.UnsafeWrap(stored.AsMemory(StoredEntry.HeaderBytes));
        _metrics.CountRead(StatusCode.Ok);
        return response;
    }

    private ReadEntryResponse Fail(ReadEntryResponse response, Exception ex)
        => Fail(response, Map(ex, "Read", response.LedgerId), ex.Message);

    private ReadEntryResponse Fail(ReadEntryResponse response, StatusCode status, string message)
    {
        _metrics.CountRead(status);
        response.Status = status;
        response.Message = message;
        return response;
    }

    private StatusCode Map(Exception ex, string operation, long ledgerId)
    {
        if (!StatusMapper.IsExpected(ex))
        {
            _logger.LogError(ex, "{Operation} of ledger {LedgerId} failed", operation, ledgerId);
        }

        return StatusMapper.ToStatus(ex);
    }
}
