using System.Buffers.Binary;
using System.Diagnostics;
using System.Numerics;
using Microsoft.Extensions.Logging;
using Pulsarish.Protocol.Checksums;
using Pulsarish.Protocol.Errors;
using Pulsarish.Protocol.Bookie;
using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Ledgers;

/// <summary>
/// The writer of one OPEN ledger (BookKeeper's LedgerHandle), DESIGN.md §3. Adds are pipelined: each goes to the
/// write set of its entry id, completes once Qa bookies of that write set acknowledged it and every earlier entry
/// completed, and completions are delivered strictly in entry order, never concurrently. A bookie error or timeout
/// triggers an ensemble change (versioned CAS of a new fragment at LAC+1, then a resend of the affected writes).
/// The handle dies when it finds itself fenced (<see cref="LedgerFencedException"/>), cannot repair its ensemble
/// (<see cref="NotEnoughBookiesException"/>) or is closed. Thread-safe; payloads are copied on add, so callers may
/// reuse their buffers at once. Close or dispose every handle: an open one keeps its timeout timer alive.
/// </summary>
public sealed class LedgerHandle : IAsyncDisposable, IAddCallback
{
    private enum HandleState { Open, Closing, Closed, Failed }

    private static readonly IReadOnlySet<string> EmptyExclusions = new HashSet<string>();

    private readonly object _lock = new();
    private readonly LedgerClient _client;
    private readonly ILogger _logger;
    private readonly IPlacementPolicy _placement;
    private readonly int _ensembleSize;
    private readonly int _writeQuorum;
    private readonly int _ackQuorum;
    private readonly int _maxPendingAdds;
    private readonly byte[] _masterKey;
    private readonly long _addTimeoutTicks;
    private readonly long _addQuorumTimeoutTicks;
    private readonly Timer _timeoutTimer;

    private LedgerMetadata _metadata;
    private long _metadataVersion;
    private string[] _ensemble;
    private long _lastAddPushed = -1;
    private long _lastAddConfirmed = -1;
    private long _pushedLength;
    private long _length;
    // Sent and not yet complete, ascending entry ids (the head is LAC+1).
    private readonly Queue<PendingAddOp> _pending = new();
    // Entry id assigned, not sent yet: back-pressure (MaxPendingAdds) or an ensemble change in progress.
    private readonly Queue<PendingAddOp> _waiting = new();
    // Ensemble index → failed bookie waiting for its replacement.
    private readonly Dictionary<int, string> _failedBookies = new();
    private readonly HashSet<string> _everFailed = new(StringComparer.Ordinal);
    private bool _changingEnsemble;
    private HandleState _state;
    private Exception? _failure;
    private readonly Queue<PendingAddOp> _toDeliver = new();
    private bool _delivering;
    // Entry id of the last successful completion delivered (only read by the entry-order assert).
    private long _lastDelivered = -1;
    private Task? _closeTask;

    internal LedgerHandle(LedgerClient client, VersionedLedgerMetadata metadata, IPlacementPolicy placement, ILogger logger)
    {
        _client = client;
        _logger = logger;
        _placement = placement;
        _metadata = metadata.Metadata;
        _metadataVersion = metadata.Version;
        LedgerId = _metadata.LedgerId;
        _ensembleSize = _metadata.EnsembleSize;
        _writeQuorum = _metadata.WriteQuorum;
        _ackQuorum = _metadata.AckQuorum;
        Debug.Assert(_ackQuorum >= 1 && _ackQuorum <= _writeQuorum && _writeQuorum <= _ensembleSize && _ensembleSize <= 64, "1 ≤ Qa ≤ Qw ≤ E ≤ 64");
        _masterKey = _metadata.MasterKey.ToByteArray();
        _ensemble = [.. _metadata.Fragments[^1].Bookies];
        _maxPendingAdds = client.Options.MaxPendingAdds;
        _addTimeoutTicks = (long)(client.Options.AddTimeout.TotalSeconds * Stopwatch.Frequency);
        _addQuorumTimeoutTicks = client.Options.AddQuorumTimeout is { } quorumTimeout
            ? (long)(quorumTimeout.TotalSeconds * Stopwatch.Frequency)
            : long.MaxValue;
        var interval = TimeSpan.FromTicks(Math.Clamp(client.Options.AddTimeout.Ticks / 10,
            TimeSpan.FromMilliseconds(10).Ticks, TimeSpan.FromSeconds(1).Ticks));
        _timeoutTimer = new Timer(static s => ((LedgerHandle)s!).CheckTimeouts(), this, interval, interval);
    }

    public long LedgerId { get; }

    /// <summary>Highest entry id whose add completed (LAC); -1 when none.</summary>
    public long LastAddConfirmed { get { lock (_lock) { return _lastAddConfirmed; } } }

    /// <summary>Highest entry id assigned to an add; -1 when none.</summary>
    public long LastAddPushed { get { lock (_lock) { return _lastAddPushed; } } }

    /// <summary>Adds accepted and not yet complete (in flight plus waiting for back-pressure).</summary>
    public int PendingAdds { get { lock (_lock) { return _pending.Count + _waiting.Count; } } }

    /// <summary>Payload bytes of the completed entries.</summary>
    public long Length { get { lock (_lock) { return _length; } } }

    /// <summary>A copy of the metadata as this writer last wrote or read it.</summary>
    public LedgerMetadata Metadata { get { lock (_lock) { return _metadata.Clone(); } } }

    /// <summary>True until the handle is closed, fenced or broken.</summary>
    public bool IsWritable { get { lock (_lock) { return _state == HandleState.Open; } } }

    /// <summary>
    /// Adds an entry; the task yields its entry id once the add is complete (DESIGN §3.2). Tasks complete in entry
    /// order. Beyond <see cref="LedgerClientOptions.MaxPendingAdds"/> in flight the add waits, in call order.
    /// </summary>
    public Task<long> AddAsync(ReadOnlyMemory<byte> payload)
    {
        var op = new PendingAddOp(_writeQuorum, new TaskCompletionSource<long>(TaskCreationOptions.RunContinuationsAsynchronously), null, null);
        Submit(op, payload.Span);
        return op.Task;
    }

    /// <summary>Callback form of <see cref="AddAsync"/>: <paramref name="completion"/> runs in entry order, never concurrently.</summary>
    public void AddEntry(ReadOnlyMemory<byte> payload, AddCompletion completion, object? state)
    {
        ArgumentNullException.ThrowIfNull(completion);
        Submit(new PendingAddOp(_writeQuorum, null, completion, state), payload.Span);
    }

    private void Submit(PendingAddOp op, ReadOnlySpan<byte> payload)
    {
        var stored = LedgerEntryFormat.Encode(0, payload);
        bool send = false;
        lock (_lock)
        {
            if (_state != HandleState.Open)
            {
                op.Error = _failure ?? new LedgerClosedException(LedgerId);
                op.Done = true;
                _toDeliver.Enqueue(op);
            }
            else
            {
                op.EntryId = ++_lastAddPushed;
                _pushedLength += payload.Length;
                op.LedgerLength = _pushedLength;
                BinaryPrimitives.WriteInt64BigEndian(stored, _pushedLength);
                op.Stored = stored;
                if (!_changingEnsemble && _waiting.Count == 0 && _pending.Count < _maxPendingAdds)
                {
                    Prepare(op);
                    send = true;
                }
                else
                {
                    _waiting.Enqueue(op);
                }
            }
        }
        if (send)
        {
            SendAll(op);
        }
        else
        {
            Deliver();
        }
    }

    /// <summary>Fixes LAC, digest and targets of an op and moves it into the pipeline. Under the lock.</summary>
    private void Prepare(PendingAddOp op)
    {
        Debug.Assert(Monitor.IsEntered(_lock));
        Debug.Assert(_lastAddConfirmed < op.EntryId, "LAC ≤ last added");
        op.Lac = _lastAddConfirmed;
        op.Digest = EntryDigest.Compute(LedgerId, op.EntryId, op.Lac, op.Stored);
        long now = Stopwatch.GetTimestamp();
        for (int position = 0; position < _writeQuorum; position++)
        {
            // Write set B[(e+i) mod E], i < Qw — DESIGN §3.1.
            op.Targets[position] = _ensemble[WriteSet.BookieIndex(op.EntryId, position, _ensembleSize)];
            op.SentTimestamps[position] = now;
        }
        Debug.Assert(_pending.Count == 0 || _pending.Peek().EntryId < op.EntryId);
        _pending.Enqueue(op);
    }

    private void SendAll(PendingAddOp op)
    {
        for (int position = 0; position < _writeQuorum; position++)
        {
            Send(op, position);
        }
    }

    private void Send(PendingAddOp op, int position)
    {
        var request = new BookieAddRequest(LedgerId, op.EntryId, _masterKey, op.Lac, op.Digest, op.Stored, Recovery: false);
        _client.Bookies.AddEntry(op.Targets[position], request, this, op);
    }

    void IAddCallback.AddComplete(StatusCode status, string bookieId, long ledgerId, long entryId, object? context)
    {
        var op = (PendingAddOp)context!;
        List<PendingAddOp>? admitted = null;
        bool startChange = false;
        lock (_lock)
        {
            if (op.Done)
            {
                return;
            }
            int position = op.PositionOf(bookieId);
            if (position < 0)
            {
                return; // the position was re-targeted by an ensemble change: a stale answer
            }
            ulong bit = 1UL << position;
            switch (status)
            {
                case StatusCode.Ok:
                    op.AckMask |= bit;
                    if (_pending.Count > 0 && ReferenceEquals(_pending.Peek(), op))
                    {
                        CompleteHeadAndAdmit(ref admitted);
                    }
                    break;
                case StatusCode.Fenced:
                    op.FencedMask |= bit;
                    // Fenced once too many of the write set refuse for Qa to be reachable — DESIGN §3.5.
                    if (_writeQuorum - BitOperations.PopCount(op.FencedMask) < _ackQuorum)
                    {
                        Fail(new LedgerFencedException(LedgerId, $"bookies refused entry {op.EntryId}"));
                    }
                    break;
                case StatusCode.Unauthorized:
                    Fail(new UnauthorizedException($"bookie {bookieId} refused the master key of ledger {LedgerId}"));
                    break;
                case StatusCode.BadRequest:
                    Fail(new BadRequestException($"bookie {bookieId} refused entry {LedgerId}:{op.EntryId}"));
                    break;
                case StatusCode.TooLarge:
                    Fail(new TooLargeException($"bookie {bookieId} refused entry {LedgerId}:{op.EntryId} as too large"));
                    break;
                default:
                    startChange = OnBookieFailed(WriteSet.BookieIndex(op.EntryId, position, _ensembleSize), bookieId,
                        op.EntryId, status.ToString());
                    break;
            }
        }
        AfterLock(admitted, startChange);
    }

    private void AfterLock(List<PendingAddOp>? admitted, bool startChange)
    {
        if (startChange)
        {
            _ = Task.Run(ChangeEnsembleAsync);
        }
        if (admitted is not null)
        {
            foreach (var op in admitted)
            {
                SendAll(op);
            }
        }
        Deliver();
    }

    /// <summary>
    /// Completes the head of the pipeline while it has Qa acks (completion in entry order — DESIGN §3.2), then
    /// admits waiting adds. Completions are held during an ensemble change: an entry past LAC+1 must be acknowledged
    /// by the write set of the fragment it will belong to.
    /// </summary>
    private void CompleteHeadAndAdmit(ref List<PendingAddOp>? admitted)
    {
        Debug.Assert(Monitor.IsEntered(_lock));
        if (_changingEnsemble || _state != HandleState.Open)
        {
            return;
        }
        while (_pending.Count > 0 && BitOperations.PopCount(_pending.Peek().AckMask) >= _ackQuorum)
        {
            var head = _pending.Dequeue();
            Debug.Assert(head.EntryId == _lastAddConfirmed + 1, "completions strictly in entry order");
            _lastAddConfirmed = head.EntryId;
            Debug.Assert(_lastAddConfirmed <= _lastAddPushed, "LAC ≤ last added");
            _length = head.LedgerLength;
            head.Done = true;
            _toDeliver.Enqueue(head);
        }
        while (_waiting.Count > 0 && _pending.Count < _maxPendingAdds)
        {
            var op = _waiting.Dequeue();
            Prepare(op);
            (admitted ??= new List<PendingAddOp>()).Add(op);
        }
    }

    /// <summary>Records a failed bookie; true when the caller must start the ensemble change loop. Under the lock.</summary>
    private bool OnBookieFailed(int bookieIndex, string bookieId, long entryId, string reason)
    {
        Debug.Assert(Monitor.IsEntered(_lock));
        if (_state != HandleState.Open || !string.Equals(_ensemble[bookieIndex], bookieId, StringComparison.Ordinal))
        {
            return false; // already replaced
        }
        if (!_failedBookies.TryAdd(bookieIndex, bookieId))
        {
            return false;
        }
        _everFailed.Add(bookieId);
        _logger.LogWarning("Ledger {LedgerId}: bookie {BookieId} (ensemble index {Index}) failed an add of entry {EntryId} ({Reason}); replacing it",
            LedgerId, bookieId, bookieIndex, entryId, reason);
        if (_changingEnsemble)
        {
            return false;
        }
        _changingEnsemble = true;
        return true;
    }

    private void CheckTimeouts()
    {
        bool startChange = false;
        lock (_lock)
        {
            if (_state != HandleState.Open)
            {
                return;
            }
            long now = Stopwatch.GetTimestamp();
            if (_pending.Count > 0 && now - _pending.Peek().StartTimestamp > _addQuorumTimeoutTicks)
            {
                var head = _pending.Peek();
                Fail(new AddQuorumTimeoutException(LedgerId, head.EntryId));
            }
            else if (_waiting.Count > 0 && now - _waiting.Peek().StartTimestamp > _addQuorumTimeoutTicks)
            {
                Fail(new AddQuorumTimeoutException(LedgerId, _waiting.Peek().EntryId));
            }
            foreach (var op in _pending)
            {
                ulong answered = op.AckMask | op.FencedMask;
                for (int position = 0; position < _writeQuorum; position++)
                {
                    if ((answered & (1UL << position)) == 0 && now - op.SentTimestamps[position] > _addTimeoutTicks)
                    {
                        int index = WriteSet.BookieIndex(op.EntryId, position, _ensembleSize);
                        if (!_failedBookies.ContainsKey(index))
                        {
                            startChange |= OnBookieFailed(index, op.Targets[position], op.EntryId, "timeout");
                        }
                    }
                }
            }
        }
        if (startChange)
        {
            _ = Task.Run(ChangeEnsembleAsync);
        }
        Deliver();
    }

    /// <summary>
    /// Replaces failed bookies until none is left (DESIGN §3.5): new fragment at LAC+1 by versioned CAS, then resend
    /// of every pending write whose target changed. Runs alone (<see cref="_changingEnsemble"/>).
    /// </summary>
    private async Task ChangeEnsembleAsync()
    {
        List<PendingAddOp>? admitted = null;
        try
        {
            while (true)
            {
                Dictionary<int, string> failures;
                long fragmentFirstEntry;
                LedgerMetadata metadata;
                long version;
                HashSet<string> excluded;
                lock (_lock)
                {
                    if (_state != HandleState.Open)
                    {
                        _changingEnsemble = false;
                        return;
                    }
                    if (_failedBookies.Count == 0)
                    {
                        _changingEnsemble = false;
                        CompleteHeadAndAdmit(ref admitted);
                        return;
                    }
                    failures = new Dictionary<int, string>(_failedBookies);
                    fragmentFirstEntry = _lastAddConfirmed + 1; // new fragment at LAC+1 — DESIGN §3.5
                    metadata = _metadata;
                    version = _metadataVersion;
                    excluded = new HashSet<string>(_everFailed, StringComparer.Ordinal);
                }
                var available = await _client.Directory.GetAvailableAsync().ConfigureAwait(false);
                var (written, newVersion, ensemble) = await WriteEnsembleChangeAsync(
                    failures, fragmentFirstEntry, metadata, version, available, excluded).ConfigureAwait(false);
                List<(PendingAddOp Op, int Position)> resend = new();
                lock (_lock)
                {
                    if (_state != HandleState.Open)
                    {
                        _changingEnsemble = false;
                        return;
                    }
                    _metadata = written;
                    _metadataVersion = newVersion;
                    _ensemble = ensemble;
                    foreach (var (index, bookieId) in failures)
                    {
                        if (_failedBookies.TryGetValue(index, out var current) && current == bookieId)
                        {
                            _failedBookies.Remove(index);
                        }
                    }
                    long now = Stopwatch.GetTimestamp();
                    foreach (var op in _pending)
                    {
                        for (int position = 0; position < _writeQuorum; position++)
                        {
                            string target = ensemble[WriteSet.BookieIndex(op.EntryId, position, _ensembleSize)];
                            if (!string.Equals(target, op.Targets[position], StringComparison.Ordinal))
                            {
                                ulong keep = ~(1UL << position);
                                op.AckMask &= keep;
                                op.FencedMask &= keep;
                                op.Targets[position] = target;
                                op.SentTimestamps[position] = now;
                                resend.Add((op, position));
                            }
                        }
                    }
                }
                LedgerMetrics.EnsembleChanges.Inc();
                _logger.LogInformation(
                    "Ledger {LedgerId}: ensemble change at entry {FirstEntryId} to {Ensemble}, {Resent} writes resent",
                    LedgerId, fragmentFirstEntry, string.Join(",", ensemble), resend.Count);
                foreach (var (op, position) in resend)
                {
                    Send(op, position);
                }
            }
        }
        catch (Exception ex)
        {
            if (ex is not LedgerFencedException and not NotEnoughBookiesException)
            {
                _logger.LogError(ex, "Ledger {LedgerId}: ensemble change failed", LedgerId);
            }
            lock (_lock)
            {
                _changingEnsemble = false;
                Fail(ex);
            }
        }
        finally
        {
            AfterLock(admitted, false);
        }
    }

    private async Task<(LedgerMetadata Written, long Version, string[] Ensemble)> WriteEnsembleChangeAsync(
        Dictionary<int, string> failures, long fragmentFirstEntry, LedgerMetadata metadata, long version,
        IReadOnlyList<BookieServiceInfo> available, HashSet<string> excluded)
    {
        while (true)
        {
            if (metadata.State != LedgerState.Open)
            {
                // The CAS found IN_RECOVERY or CLOSED: this writer has been fenced — DESIGN §3.5.
                throw new LedgerFencedException(LedgerId, $"metadata is {metadata.State}");
            }
            var last = metadata.Fragments[^1];
            Debug.Assert(fragmentFirstEntry >= last.FirstEntryId);
            string[] ensemble = [.. last.Bookies];
            bool changed = false;
            foreach (var (index, bookieId) in failures)
            {
                if (ensemble[index] != bookieId)
                {
                    continue; // no longer valid: already replaced
                }
                try
                {
                    ensemble[index] = _placement.ReplaceBookie(ensemble, index, _writeQuorum, available, excluded);
                }
                catch (NotEnoughBookiesException) when (excluded.Count > 0)
                {
                    // Bookies that failed earlier may be healthy again (BookKeeper excludes only the current
                    // ensemble): retry with just the ensemble excluded, which still holds the failing bookie.
                    ensemble[index] = _placement.ReplaceBookie(ensemble, index, _writeQuorum, available, EmptyExclusions);
                }
                changed = true;
            }
            if (!changed)
            {
                return (metadata, version, ensemble);
            }
            var updated = metadata.Clone();
            var fragment = new Fragment { FirstEntryId = fragmentFirstEntry };
            fragment.Bookies.AddRange(ensemble);
            if (last.FirstEntryId == fragmentFirstEntry)
            {
                updated.Fragments[^1] = fragment; // nothing was completed in the last fragment: replace it
            }
            else
            {
                updated.Fragments.Add(fragment);
            }
            try
            {
                long newVersion = await _client.Ledgers.UpdateAsync(updated, version).ConfigureAwait(false);
                return (updated, newVersion, ensemble);
            }
            catch (BadVersionException)
            {
                // Re-read and retry while the change is still valid.
                var fresh = await _client.Ledgers.ReadAsync(LedgerId).ConfigureAwait(false)
                    ?? throw new NoSuchLedgerException(LedgerId);
                metadata = fresh.Metadata;
                version = fresh.Version;
            }
        }
    }

    /// <summary>Fails every incomplete add with <paramref name="error"/>; the handle is dead. Under the lock.</summary>
    private void Fail(Exception error)
    {
        Debug.Assert(Monitor.IsEntered(_lock));
        if (_state != HandleState.Open)
        {
            return;
        }
        _state = HandleState.Failed;
        _failure = error;
        _logger.LogWarning("Ledger {LedgerId} handle failed at LAC {Lac}: {Reason}", LedgerId, _lastAddConfirmed, error.Message);
        DrainIncomplete(error);
        _timeoutTimer.Dispose();
    }

    private void DrainIncomplete(Exception error)
    {
        while (_pending.Count > 0)
        {
            var op = _pending.Dequeue();
            op.Done = true;
            op.Error = error;
            _toDeliver.Enqueue(op);
        }
        while (_waiting.Count > 0)
        {
            var op = _waiting.Dequeue();
            op.Done = true;
            op.Error = error;
            _toDeliver.Enqueue(op);
        }
    }

    /// <summary>Delivers queued outcomes in order from one thread at a time.</summary>
    private void Deliver()
    {
        lock (_lock)
        {
            if (_delivering || _toDeliver.Count == 0)
            {
                return;
            }
            _delivering = true;
        }
        while (true)
        {
            PendingAddOp? op;
            lock (_lock)
            {
                if (!_toDeliver.TryDequeue(out op))
                {
                    _delivering = false;
                    return;
                }
            }
            if (op.Error is null)
            {
                // Completions are delivered strictly in entry order — DESIGN §3.2.
                Debug.Assert(op.EntryId == _lastDelivered + 1, "completions delivered in entry order");
                _lastDelivered = op.EntryId;
            }
            try
            {
                op.Deliver();
            }
            catch (Exception ex)
            {
                _logger.LogError(ex, "Add callback of {LedgerId}:{EntryId} threw", LedgerId, op.EntryId);
            }
        }
    }

    /// <summary>Reads completed entries (up to LAC) of this ledger.</summary>
    public Task<IReadOnlyList<LedgerEntry>> ReadAsync(long firstEntryId, long lastEntryId, CancellationToken ct = default)
    {
        LedgerMetadata metadata;
        long lac;
        lock (_lock)
        {
            metadata = _metadata;
            lac = _lastAddConfirmed;
        }
        return _client.Reader.ReadAsync(metadata, firstEntryId, lastEntryId, lac, ct);
    }

    /// <summary>
    /// Closes the ledger at its LAC, as BookKeeper's close does, also after a failed add: incomplete adds (those
    /// beyond the LAC) fail with <see cref="LedgerClosedException"/> (or have already failed with the handle's
    /// error), then the metadata is CAS'd from OPEN to CLOSED with last entry = LAC and the length of the entries up
    /// to it (<see cref="ILedgerManager.CloseAsync"/>). Throws <see cref="LedgerFencedException"/> when recovery
    /// has the ledger (IN_RECOVERY) or closed it at another last entry; succeeds when it was closed at the same one.
    /// </summary>
    public Task CloseAsync(CancellationToken ct = default)
    {
        lock (_lock)
        {
            if (_closeTask is not null)
            {
                return _closeTask;
            }
            if (_state == HandleState.Open)
            {
                DrainIncomplete(new LedgerClosedException(LedgerId));
            }
            Debug.Assert(_pending.Count == 0 && _waiting.Count == 0, "nothing beyond the LAC survives a close");
            Debug.Assert(_lastAddConfirmed <= _lastAddPushed, "LAC ≤ last added");
            _state = HandleState.Closing;
            _closeTask = CloseMetadataAsync(_lastAddConfirmed, _length, _metadataVersion, ct);
        }
        _timeoutTimer.Dispose();
        Deliver();
        return _closeTask;
    }

    private async Task CloseMetadataAsync(long lastEntryId, long length, long expectedVersion, CancellationToken ct)
    {
        await Task.Yield();
        // Closed at the writer's LAC: everything up to it is complete, nothing after it was acknowledged — DESIGN §3.2.
        var closed = await _client.Ledgers.CloseAsync(LedgerId, lastEntryId, length, expectedVersion, LedgerState.Open, ct)
            .ConfigureAwait(false);
        Debug.Assert(closed.Metadata.State == LedgerState.Closed && closed.Metadata.LastEntryId == lastEntryId);
        lock (_lock)
        {
            _metadata = closed.Metadata;
            _metadataVersion = closed.Version;
            _state = HandleState.Closed;
        }
        _logger.LogInformation("Ledger {LedgerId} closed at entry {LastEntryId} ({Length} bytes)", LedgerId, lastEntryId, length);
    }

    /// <summary>Closes the handle (see <see cref="CloseAsync"/>), ignoring a fence found while closing.</summary>
    public async ValueTask DisposeAsync()
    {
        try
        {
            await CloseAsync().ConfigureAwait(false);
        }
        catch (LedgerFencedException)
        {
        }
    }
}
