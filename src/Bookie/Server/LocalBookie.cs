using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Pulsarish.Bookie.Storage;
using Pulsarish.Ledgers;
using Pulsarish.Protocol.Bookie;
using StatusCode = Pulsarish.Protocol.Bookie.StatusCode;

namespace Pulsarish.Bookie.Server;

/// <summary>
/// The bookie as seen from its own process (BookKeeper's local transport; <c>pulsarish standalone</c> runs its
/// ledger client on it): the same admission, storage calls, metrics and status mapping as the gRPC service, minus
/// serialization and the loopback socket. An add is answered once its entry is durable in the journal, exactly as
/// on the wire. Thread-safe.
/// </summary>
internal sealed class LocalBookie : ILocalBookie
{
    private readonly BookieService _service;
    private readonly ILedgerStorage _storage;
    private readonly BookieOptions _options;
    private readonly BookieState _state;
    private readonly BookieMetrics _metrics;
    private readonly ILogger _logger;
    private readonly ConcurrentQueue<PendingAdd> _free = new();
    private int _freeCount;

    public LocalBookie(BookieService service, ILedgerStorage storage, BookieOptions options, BookieState state,
        BookieMetrics metrics, ILogger logger)
    {
        _service = service;
        _storage = storage;
        _options = options;
        _state = state;
        _metrics = metrics;
        _logger = logger;
    }

    public string BookieId => _state.BookieId;

    public void AddEntry(in BookieAddRequest request, IAddCallback callback, object? context)
    {
        ReadOnlySpan<byte> payload = request.Payload.Span;
        StatusCode status = AddStream.Admit(request.LedgerId, request.EntryId, request.Lac, request.Digest, payload,
            request.MasterKey.Length, request.Recovery, _options, _state, out _);
        if (status != StatusCode.Ok)
        {
            _metrics.CountAdd(status);
            callback.AddComplete(status, BookieId, request.LedgerId, request.EntryId, context);
            return;
        }

        int length = StoredEntry.EncodedLength(payload.Length);
        byte[] buffer = ArrayPool<byte>.Shared.Rent(length);
        StoredEntry.Encode(request.Lac, request.Digest, payload, buffer);
        var pending = Rent();
        pending.LedgerId = request.LedgerId;
        pending.EntryId = request.EntryId;
        pending.PayloadBytes = payload.Length;
        pending.Buffer = buffer;
        pending.Callback = callback;
        pending.Context = context;
        pending.StartTimestamp = Stopwatch.GetTimestamp();
        _state.AddStarted();
        ValueTask add;
        try
        {
            add = _storage.AddEntryAsync(request.LedgerId, request.EntryId, request.MasterKey, request.Lac,
                buffer.AsMemory(0, length), request.Recovery, CancellationToken.None);
        }
        catch (Exception ex)
        {
            pending.Fail(ex);
            return;
        }

        pending.Start(add);
    }

    public async Task<BookieReadResult> ReadEntryAsync(long ledgerId, long entryId, bool fence,
        ReadOnlyMemory<byte> masterKey, CancellationToken ct = default)
    {
        try
        {
            var response = await _service.ReadEntryAsync(new ReadEntryRequest
            {
                LedgerId = ledgerId,
                EntryId = entryId,
                Fence = fence,
                MasterKey = UnsafeByteOperations.UnsafeWrap(masterKey),
            }, ct).ConfigureAwait(false);
            return new BookieReadResult(response.Status, response.Lac, response.Digest, response.Payload.Memory);
        }
        catch (Exception ex)
        {
            return BookieReadResult.Failed(Unexpected(ex, "Read", ledgerId));
        }
    }

    public Task<BookieLacResult> ReadLacAsync(long ledgerId, CancellationToken ct = default)
    {
        try
        {
            var response = _service.ReadLac(new ReadLacRequest { LedgerId = ledgerId });
            return Task.FromResult(new BookieLacResult(response.Status, response.Lac, response.LastEntryId, response.Fenced));
        }
        catch (Exception ex)
        {
            return Task.FromResult(BookieLacResult.Failed(Unexpected(ex, "ReadLac", ledgerId)));
        }
    }

    public async Task<BookieLacResult> FenceAsync(long ledgerId, ReadOnlyMemory<byte> masterKey,
        CancellationToken ct = default)
    {
        try
        {
            var response = await _service.FenceAsync(new FenceRequest
            {
                LedgerId = ledgerId,
                MasterKey = UnsafeByteOperations.UnsafeWrap(masterKey),
            }, ct).ConfigureAwait(false);
            return new BookieLacResult(response.Status, response.Lac, response.LastEntryId, Fenced: response.Status == StatusCode.Ok);
        }
        catch (Exception ex)
        {
            return BookieLacResult.Failed(Unexpected(ex, "Fence", ledgerId));
        }
    }

    /// <summary>The service answers failures with statuses; what still escapes (cancellation) maps like on the wire.</summary>
    private StatusCode Unexpected(Exception ex, string operation, long ledgerId)
    {
        if (!StatusMapper.IsExpected(ex))
        {
            _logger.LogError(ex, "{Operation} of ledger {LedgerId} failed", operation, ledgerId);
        }

        return StatusMapper.ToStatus(ex);
    }

    private PendingAdd Rent()
    {
        if (_free.TryDequeue(out var pending))
        {
            Interlocked.Decrement(ref _freeCount);
            return pending;
        }

        return new PendingAdd(this);
    }

    private void Return(PendingAdd pending)
    {
        if (Interlocked.Increment(ref _freeCount) <= _options.MaxInFlightAddsPerStream)
        {
            _free.Enqueue(pending);
        }
        else
        {
            Interlocked.Decrement(ref _freeCount);
        }
    }

    /// <summary>One in-process add awaiting the journal (pooled per bookie).</summary>
    private sealed class PendingAdd(LocalBookie bookie) : PooledAddAwaiter
    {
        private readonly LocalBookie _bookie = bookie;

        public long LedgerId;
        public long EntryId;
        public int PayloadBytes;
        public byte[] Buffer = null!;
        public IAddCallback Callback = null!;
        public object? Context;
        public long StartTimestamp;

        /// <summary>Answers the add; also called directly when storage refused it before returning a task.</summary>
        public void Fail(Exception failure) => Completed(failure);

        protected override void Completed(Exception? failure)
        {
            var bookie = _bookie;
            long ledgerId = LedgerId;
            long entryId = EntryId;
            var callback = Callback;
            object? context = Context;
            ArrayPool<byte>.Shared.Return(Buffer);
            StatusCode status = AddStream.Outcome(ledgerId, entryId, PayloadBytes, StartTimestamp, failure, bookie._state,
                bookie._metrics, bookie._logger, out _);
            Buffer = null!;
            Callback = null!;
            Context = null;
            bookie.Return(this);
            bookie._metrics.CountAdd(status);
            callback.AddComplete(status, bookie.BookieId, ledgerId, entryId, context);
        }
    }
}
