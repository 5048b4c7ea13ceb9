using System.Diagnostics;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Pulsarish.Broker.Errors;
using Pulsarish.Protocol.Errors;
using Pulsarish.Ledgers;
using Pulsarish.Metadata;
using Pulsarish.Protocol.Metadata;
using LedgerInfo = Pulsarish.Protocol.Metadata.ManagedLedgerInfo.Types.LedgerInfo;

namespace Pulsarish.Broker.Topics;

/// <summary>
/// A topic's log as a sequence of ledgers (DESIGN.md §2): only the last ledger is open; closed ledgers are immutable
/// and deleted whole. The ledger list (<see cref="ManagedLedgerInfo"/>) lives at /managed-ledgers/… and every update
/// is a versioned compare-and-set: a failed CAS or a fenced add means another broker took the topic, and the managed
/// ledger becomes fenced (<see cref="Fenced"/>). Adds are pipelined and complete in entry order; a roll-over (max
/// entries, size or age) stops sending, lets in-flight adds complete, closes the ledger, creates the next one and
/// then sends the queued adds, so entry order is kept across ledgers. Thread-safe.
/// </summary>
public sealed class ManagedLedger : IAsyncDisposable
{
    private enum WriterState { Open, RollingOver, NoLedger, Fenced, Closed }

    private sealed class AddOp(ManagedLedger ledger, ReadOnlyMemory<byte> data, Action<Position, object?>? persisted, object? state)
    {
        public readonly ManagedLedger Ledger = ledger;
        public readonly ReadOnlyMemory<byte> Data = data;
        public readonly Action<Position, object?>? Persisted = persisted;
        public readonly object? State = state;
        public readonly TaskCompletionSource<Position> Completion = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public long LedgerId;
    }

    private static long s_nextInstanceId;
    private static readonly AddCompletion s_onAdded = static (entryId, error, state) =>
    {
        var op = (AddOp)state!;
        op.Ledger.AddCompleted(op, entryId, error);
    };

    private readonly object _lock = new();
    private readonly LedgerClient _client;
    private readonly IMetadataStore _store;
    private readonly EntryCache _cache;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _metadataGate = new(1, 1);
    private readonly Queue<AddOp> _queued = new();
    private readonly Dictionary<long, ReadOnlyLedgerHandle> _readHandles = new();
    private List<LedgerInfo> _ledgers = new();
    private long _infoVersion = -1;
    private LedgerHandle? _current;
    private long _currentCreatedMillis;
    private long _currentEntries;
    private long _currentSize;
    private long _pushedEntries;
    private long _pushedBytes;
    private int _inFlight;
    private bool _currentFailed;
    // Failed adds so far (under _lock). A writer passes the count it saw when it attached: once an add failed, every
    // later add of that writer fails too, so nothing it sent after a lost entry is stored ahead of its resend.
    private long _writeFailures;
    // The highest ledger id ever listed (under _lock), persisted as ManagedLedgerInfo.ledger_id_floor: new ledgers get
    // ids above it, even when the last ledgers were empty and dropped (a cursor may point into them).
    private long _ledgerIdFloor;
    private bool _rolling;
    private WriterState _state = WriterState.NoLedger;
    private Exception? _fenceError;
    private Position _lastConfirmed = Position.Earliest;
    private ManagedLedgerConfig _config;

    private ManagedLedger(TopicName name, LedgerClient client, IMetadataStore store, EntryCache cache,
        ManagedLedgerConfig config, ILogger logger)
    {
        Name = name;
        Path = ManagedLedgerPaths.Topic(name);
        _client = client;
        _store = store;
        _cache = cache;
        _config = config;
        _logger = logger;
        InstanceId = Interlocked.Increment(ref s_nextInstanceId);
    }

    public TopicName Name { get; }

    /// <summary>The metadata path of the ledger list.</summary>
    public string Path { get; }

    /// <summary>Unique per opened instance (tail-cache key).</summary>
    public long InstanceId { get; }

    public LedgerClient Client => _client;
    public IMetadataStore Store => _store;
    public EntryCache Cache => _cache;

    /// <summary>Settings; a new value applies to ledgers created afterwards.</summary>
    public ManagedLedgerConfig Config { get => Volatile.Read(ref _config); set => Volatile.Write(ref _config, value); }

    /// <summary>Raised (on a ledger completion thread; must not block) after entries were added.</summary>
    public event Action? EntriesAdded;

    /// <summary>Raised once when the managed ledger is fenced: another owner took the topic.</summary>
    public event Action<Exception>? Fenced;

    public bool IsFenced { get { lock (_lock) { return _state == WriterState.Fenced; } } }

    /// <summary>Position of the last entry whose add completed ((currentLedger, -1) when none).</summary>
    public Position LastConfirmedPosition { get { lock (_lock) { return _lastConfirmed; } } }

    /// <summary>Id of the ledger being written (-1 while rolling over).</summary>
    public long CurrentLedgerId { get { lock (_lock) { return _current?.LedgerId ?? -1; } } }

    /// <summary>
    /// Opens the managed ledger at its metadata path. The previous owner's last ledger is opened WITH RECOVERY
    /// (fenced, its tail recovered and closed) before anything is written, then a new ledger is created
    /// (DESIGN.md §4, §7). <see cref="TopicNotFoundException"/> when it does not exist and
    /// <paramref name="createIfMissing"/> is false.
    /// </summary>
    public static async Task<ManagedLedger> OpenAsync(TopicName name, LedgerClient client, IMetadataStore store,
        EntryCache cache, ManagedLedgerConfig config, bool createIfMissing, ILogger logger, CancellationToken ct = default)
    {
        var ml = new ManagedLedger(name, client, store, cache, config, logger);
        await ml.InitializeAsync(createIfMissing, ct).ConfigureAwait(false);
        return ml;
    }

    /// <summary>Whether a managed ledger exists for <paramref name="name"/>.</summary>
    public static Task<bool> ExistsAsync(IMetadataStore store, TopicName name, CancellationToken ct = default)
        => store.ExistsAsync(ManagedLedgerPaths.Topic(name), ct);

    private async Task InitializeAsync(bool createIfMissing, CancellationToken ct)
    {
        var stored = await _store.GetAsync(Path, ct).ConfigureAwait(false);
        ManagedLedgerInfo info;
        if (stored is null)
        {
            if (!createIfMissing)
            {
                throw new TopicNotFoundException(Name.FullName);
            }
            info = new ManagedLedgerInfo();
            _infoVersion = -1;
        }
        else
        {
            try
            {
                info = ManagedLedgerInfo.Parser.ParseFrom(stored.Value);
            }
            catch (InvalidProtocolBufferException ex)
            {
                throw new PersistenceException($"corrupt managed-ledger metadata at {Path}", ex);
            }
            _infoVersion = stored.Stat.Version;
        }
        var ledgers = new List<LedgerInfo>(info.Ledgers);
        long floor = info.LedgerIdFloor;
        foreach (var l in ledgers)
        {
            floor = Math.Max(floor, l.LedgerId);
        }
        lock (_lock)
        {
            _ledgerIdFloor = floor;
        }
        var emptyLedgers = new List<long>();
        if (ledgers.Count > 0)
        {
            var last = ledgers[^1];
            try
            {
                // Fence the previous writer and close its ledger before anything is written — DESIGN §4, §7.
                var recovered = await _client.OpenWithRecoveryAsync(last.LedgerId, ct).ConfigureAwait(false);
                last.Entries = recovered.LastAddConfirmed + 1;
                last.Size = recovered.Length;
                _readHandles[last.LedgerId] = recovered;
            }
            catch (NoSuchLedgerException)
            {
                last.Entries = 0;
                last.Size = 0;
            }
            if (last.Entries == 0)
            {
                ledgers.RemoveAt(ledgers.Count - 1);
                emptyLedgers.Add(last.LedgerId);
            }
        }
        foreach (var l in ledgers)
        {
            if (l.Entries < 0 || l.Size < 0)
            {
                throw new PersistenceException($"ledger {l.LedgerId} of {Name} has {l.Entries} entries of {l.Size} bytes");
            }
        }
        for (int i = 0; i < ledgers.Count - 1; i++)
        {
            if (ledgers[i].LedgerId >= ledgers[i + 1].LedgerId)
            {
                throw new PersistenceException($"ledger list of {Name} is not ascending");
            }
        }
        lock (_lock)
        {
            _ledgers = ledgers;
            for (int i = ledgers.Count - 1; i >= 0; i--)
            {
                if (ledgers[i].Entries > 0)
                {
                    _lastConfirmed = new Position(ledgers[i].LedgerId, ledgers[i].Entries - 1);
                    break;
                }
            }
            _rolling = true;
        }
        await CreateLedgerAndSwitchAsync(ct).ConfigureAwait(false);
        foreach (long id in emptyLedgers)
        {
            await DeleteLedgerQuietlyAsync(id).ConfigureAwait(false);
        }
        _logger.LogInformation("Opened managed ledger {Topic} with {Ledgers} ledgers, last confirmed {Position}",
            Name.FullName, LedgerCount, LastConfirmedPosition);
    }

    /// <summary>Number of ledgers in the list (the current one included).</summary>
    public int LedgerCount { get { lock (_lock) { return _ledgers.Count; } } }

    /// <summary>
    /// Appends an entry. The task yields its position once the ledger add completed (never earlier); tasks complete
    /// in call order. The caller gives up <paramref name="data"/> (it is cached). Fails with
    /// <see cref="TopicFencedException"/> once fenced, <see cref="PersistenceException"/> on a write failure.
    /// <paramref name="persisted"/>, when given, runs synchronously on success strictly in entry order (before the
    /// task completes); it must be short and must not block.
    /// </summary>
    public Task<Position> AddEntryAsync(ReadOnlyMemory<byte> data, Action<Position, object?>? persisted = null, object? state = null)
        => AddEntryAsync(data, persisted, state, expectedWriteFailures: -1);

    /// <summary>
    /// Write failures so far. A producer records it when it attaches and passes it to
    /// <see cref="AddEntryAsync(ReadOnlyMemory{byte}, Action{Position, object?}?, object?, long)"/>.
    /// </summary>
    public long WriteFailures { get { lock (_lock) { return _writeFailures; } } }

    /// <summary>
    /// <see cref="AddEntryAsync(ReadOnlyMemory{byte}, Action{Position, object?}?, object?)"/> for a writer that must
    /// never have an entry stored after one of its earlier entries failed (a producer, whose resend of the failed
    /// entry would otherwise land behind later ones — or be dropped as a duplicate of them). When any add failed since
    /// the writer saw <paramref name="expectedWriteFailures"/> failures, this add fails with
    /// <see cref="PersistenceException"/> without being written; -1 checks nothing.
    /// </summary>
    public Task<Position> AddEntryAsync(ReadOnlyMemory<byte> data, Action<Position, object?>? persisted, object? state,
        long expectedWriteFailures)
    {
        var op = new AddOp(this, data, persisted, state);
        bool startRoll = false;
        lock (_lock)
        {
            if (expectedWriteFailures >= 0 && expectedWriteFailures != _writeFailures)
            {
                return Task.FromException<Position>(new PersistenceException(
                    $"an earlier write to {Name} failed; reconnect and resend in order"));
            }
            switch (_state)
            {
                case WriterState.Fenced:
                    return Task.FromException<Position>(_fenceError!);
                case WriterState.Closed:
                    return Task.FromException<Position>(new ServiceNotReadyException($"managed ledger {Name} is closed"));
                case WriterState.Open:
                    Push(op);
                    break;
                case WriterState.RollingOver:
                    _queued.Enqueue(op);
                    break;
                case WriterState.NoLedger:
                    _queued.Enqueue(op);
                    _state = WriterState.RollingOver;
                    if (!_rolling)
                    {
                        _rolling = true;
                        startRoll = true;
                    }
                    break;
            }
        }
        if (startRoll)
        {
            _ = RollOverAsync();
        }
        return op.Completion.Task;
    }

    private void Push(AddOp op)
    {
        Debug.Assert(Monitor.IsEntered(_lock) && _state == WriterState.Open && _current is not null);
        op.LedgerId = _current!.LedgerId;
        _pushedEntries++;
        _pushedBytes += op.Data.Length;
        _inFlight++;
        // Sent under the lock so entry ids follow call order.
        _current.AddEntry(op.Data, s_onAdded, op);
        // A dead handle may have completed the add synchronously (re-entrantly) and changed the state already.
        if (_state == WriterState.Open && CurrentLedgerIsFull())
        {
            _state = WriterState.RollingOver;
        }
    }

    private bool CurrentLedgerIsFull()
    {
        var config = _config;
        long ageMillis = Environment.TickCount64 - _currentCreatedMillis;
        bool spaceQuota = _pushedEntries >= config.MaxEntriesPerLedger || _pushedBytes >= config.MaxSizePerLedgerBytes;
        return (spaceQuota && ageMillis >= (long)config.MinLedgerRolloverTime.TotalMilliseconds)
            || (_pushedEntries > 0 && ageMillis >= (long)config.MaxLedgerRolloverTime.TotalMilliseconds);
    }

    private void AddCompleted(AddOp op, long entryId, Exception? error)
    {
        bool startRoll = false;
        Position position = default;
        Exception? failure = null;
        List<AddOp>? toFail = null;
        lock (_lock)
        {
            _inFlight--;
            if (error is null)
            {
                position = new Position(op.LedgerId, entryId);
                Debug.Assert(position > _lastConfirmed, "completions in entry order");
                Debug.Assert(entryId >= 0 && (_current is null || op.LedgerId != _current.LedgerId || entryId == _currentEntries),
                    "the current ledger's adds complete without gaps — DESIGN §3.2");
                if (_current is not null && op.LedgerId == _current.LedgerId)
                {
                    _currentEntries = entryId + 1;
                    _currentSize += op.Data.Length;
                }
                _lastConfirmed = position;
            }
            else if (error is LedgerFencedException)
            {
                failure = FenceLocked(error, out toFail);
            }
            else if (_state is WriterState.Fenced)
            {
                failure = _fenceError;
            }
            else
            {
                failure = new PersistenceException($"add to ledger {op.LedgerId} of {Name} failed: {error.Message}", error);
                _writeFailures++;
                if (_state is WriterState.Open or WriterState.RollingOver)
                {
                    _currentFailed = true;
                    _state = WriterState.RollingOver;
                }
                // Adds queued behind the failed one would be stored after it on the next ledger, ahead of its resend:
                // they fail with it (their writers reconnect and resend in order, as Pulsar disconnects producers).
                if (_queued.Count > 0)
                {
                    toFail = new List<AddOp>(_queued);
                    _queued.Clear();
                }
            }
            if (_state == WriterState.RollingOver && _inFlight == 0 && !_rolling)
            {
                _rolling = true;
                startRoll = true;
            }
        }
        if (failure is null)
        {
            _cache.Insert(InstanceId, position, op.Data);
            op.Persisted?.Invoke(position, op.State);
            op.Completion.TrySetResult(position);
            EntriesAdded?.Invoke();
        }
        else
        {
            op.Completion.TrySetException(failure);
            FailAll(toFail, failure);
        }
        if (startRoll)
        {
            _ = RollOverAsync();
        }
    }

    private async Task RollOverAsync()
    {
        try
        {
            await CloseCurrentLedgerAsync().ConfigureAwait(false);
            await CreateLedgerAndSwitchAsync(CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            List<AddOp>? toFail = null;
            Exception failure;
            lock (_lock)
            {
                _rolling = false;
                if (_state == WriterState.Fenced || _state == WriterState.Closed)
                {
                    failure = _fenceError ?? new ServiceNotReadyException($"managed ledger {Name} is closed");
                }
                else
                {
                    _state = WriterState.NoLedger;
                    failure = new PersistenceException($"cannot create a ledger for {Name}: {ex.Message}", ex);
                }
                if (_queued.Count > 0)
                {
                    toFail = new List<AddOp>(_queued);
                    _queued.Clear();
                    // A failed add, like one failed by its ledger: a writer's later adds (sent before it learns of
                    // this failure) must not be stored ahead of its resend of these, once a ledger can be created.
                    _writeFailures++;
                }
            }
            _logger.LogWarning(ex, "Roll-over of {Topic} failed", Name.FullName);
            FailAll(toFail, failure);
        }
    }

    private async Task CloseCurrentLedgerAsync()
    {
        LedgerHandle? old;
        bool failed;
        lock (_lock)
        {
            old = _current;
            failed = _currentFailed;
        }
        if (old is null)
        {
            return;
        }
        // One close for healthy and broken writers alike: the handle closes at its LAC (entries after it were failed
        // to their producers, so no "ghost" entry appears); IN_RECOVERY or closed elsewhere means another owner.
        try
        {
            await old.CloseAsync().ConfigureAwait(false);
        }
        catch (LedgerFencedException ex)
        {
            Fence(ex);
            throw;
        }
        long entries = old.LastAddConfirmed + 1;
        long size = old.Length;
        if (failed)
        {
            _logger.LogWarning("Closed broken ledger {LedgerId} of {Topic} at its LAC {Lac}", old.LedgerId, Name.FullName, entries - 1);
        }
        bool empty = entries == 0;
        await UpdateInfoAsync(list =>
        {
            int index = list.FindIndex(l => l.LedgerId == old.LedgerId);
            if (index >= 0)
            {
                if (empty)
                {
                    list.RemoveAt(index);
                }
                else
                {
                    list[index] = new LedgerInfo(list[index]) { Entries = entries, Size = size };
                }
            }
        }).ConfigureAwait(false);
        lock (_lock)
        {
            _current = null;
            if (!empty && _lastConfirmed < new Position(old.LedgerId, entries - 1))
            {
                _lastConfirmed = new Position(old.LedgerId, entries - 1);
            }
        }
        if (empty)
        {
            await DeleteLedgerQuietlyAsync(old.LedgerId).ConfigureAwait(false);
        }
        _logger.LogInformation("Closed ledger {LedgerId} of {Topic} with {Entries} entries", old.LedgerId, Name.FullName, entries);
    }

    private async Task CreateLedgerAndSwitchAsync(CancellationToken ct)
    {
        var config = Config;
        var custom = new Dictionary<string, string> { ["pulsarish/managed-ledger"] = Name.FullName };
        long lastLedgerId;
        lock (_lock)
        {
            lastLedgerId = Math.Max(_ledgers.Count > 0 ? _ledgers[^1].LedgerId : 0, _ledgerIdFloor);
        }
        // Positions compare by ledger id, so the new ledger's id must be above the last one — which another broker
        // (another id range) may have created (DESIGN §6).
        var handle = await _client.CreateLedgerAsync(config.EnsembleSize, config.WriteQuorum, config.AckQuorum,
            customMetadata: custom, ct: ct, idAboveExclusive: lastLedgerId).ConfigureAwait(false);
        Debug.Assert(handle.LedgerId > lastLedgerId, "a topic's ledger ids ascend — DESIGN §9");
        var info = new LedgerInfo { LedgerId = handle.LedgerId, CtimeMillis = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() };
        try
        {
            await UpdateInfoAsync(list => list.Add(info)).ConfigureAwait(false);
        }
        catch
        {
            await handle.DisposeAsync().ConfigureAwait(false);
            await DeleteLedgerQuietlyAsync(handle.LedgerId).ConfigureAwait(false);
            throw;
        }
        List<AddOp>? toFail = null;
        Exception? failure = null;
        lock (_lock)
        {
            if (_state is WriterState.Fenced or WriterState.Closed)
            {
                failure = _fenceError ?? new ServiceNotReadyException($"managed ledger {Name} is closed");
                toFail = new List<AddOp>(_queued);
                _queued.Clear();
            }
            else
            {
                _current = handle;
                _currentCreatedMillis = Environment.TickCount64;
                _currentEntries = 0;
                _currentSize = 0;
                _pushedEntries = 0;
                _pushedBytes = 0;
                _currentFailed = false;
                if (_lastConfirmed == Position.Earliest)
                {
                    _lastConfirmed = new Position(handle.LedgerId, -1);
                }
                _state = WriterState.Open;
                while (_state == WriterState.Open && _queued.TryDequeue(out var op))
                {
                    Push(op);
                }
            }
            _rolling = false;
        }
        if (failure is not null)
        {
            await handle.DisposeAsync().ConfigureAwait(false);
            FailAll(toFail, failure);
        }
    }

    /// <summary>Applies <paramref name="mutate"/> to a copy of the ledger list and CASes it into the store.</summary>
    private async Task UpdateInfoAsync(Action<List<LedgerInfo>> mutate)
    {
        await _metadataGate.WaitAsync().ConfigureAwait(false);
        try
        {
            List<LedgerInfo> next;
            long version;
            lock (_lock)
            {
                next = new List<LedgerInfo>(_ledgers.Count + 1);
                foreach (var l in _ledgers)
                {
                    next.Add(new LedgerInfo(l));
                }
                version = _infoVersion;
            }
            mutate(next);
            var info = new ManagedLedgerInfo();
            info.Ledgers.AddRange(next);
            long floor;
            lock (_lock)
            {
                floor = _ledgerIdFloor;
            }
            foreach (var l in next)
            {
                floor = Math.Max(floor, l.LedgerId);
            }
            info.LedgerIdFloor = floor;
            Stat stat;
            try
            {
                stat = await _store.PutAsync(Path, info.ToByteArray(), version).ConfigureAwait(false);
            }
            catch (Exception ex) when (ex is BadVersionException or NodeExistsException or NoNodeException)
            {
                // Someone else changed the ledger list: another broker owns the topic now — DESIGN §3.5.
                Fence(ex);
                throw _fenceError!;
            }
            lock (_lock)
            {
                _ledgers = next;
                _infoVersion = stat.Version;
                _ledgerIdFloor = Math.Max(_ledgerIdFloor, floor);
            }
        }
        finally
        {
            _metadataGate.Release();
        }
    }

    private void Fence(Exception cause)
    {
        List<AddOp>? toFail;
        Exception failure;
        lock (_lock)
        {
            failure = FenceLocked(cause, out toFail);
        }
        FailAll(toFail, failure);
    }

    private Exception FenceLocked(Exception cause, out List<AddOp>? toFail)
    {
        Debug.Assert(Monitor.IsEntered(_lock));
        toFail = null;
        if (_state == WriterState.Fenced)
        {
            return _fenceError!;
        }
        _state = WriterState.Fenced;
        _fenceError = new TopicFencedException(Name.FullName, cause);
        if (_queued.Count > 0)
        {
            toFail = new List<AddOp>(_queued);
            _queued.Clear();
        }
        _logger.LogWarning("Managed ledger {Topic} is fenced: {Cause}", Name.FullName, cause.Message);
        var fenced = Fenced;
        var error = _fenceError;
        ThreadPool.UnsafeQueueUserWorkItem(_ => fenced?.Invoke(error), null);
        return _fenceError;
    }

    private static void FailAll(List<AddOp>? ops, Exception error)
    {
        if (ops is null)
        {
            return;
        }
        foreach (var op in ops)
        {
            op.Completion.TrySetException(error);
        }
    }

    /// <summary>Rolls the current ledger over when it is older than the maximum roll-over time (periodic task).</summary>
    public void RollOverIfAged()
    {
        bool start = false;
        lock (_lock)
        {
            if (_state == WriterState.Open && CurrentLedgerIsFull())
            {
                _state = WriterState.RollingOver;
                if (_inFlight == 0 && !_rolling)
                {
                    _rolling = true;
                    start = true;
                }
            }
        }
        if (start)
        {
            _ = RollOverAsync();
        }
    }

    // ---- navigation (positions) ----

    private long EntriesOfLocked(LedgerInfo l) => _current is not null && l.LedgerId == _current.LedgerId ? _currentEntries : l.Entries;

    private bool IsCurrentLocked(long ledgerId) => _current is not null && _current.LedgerId == ledgerId;

    /// <summary>
    /// The position following <paramref name="position"/>: the next entry of its ledger, else the first entry of the
    /// next non-empty ledger; in the current ledger the next (maybe not yet written) entry.
    /// </summary>
    public Position GetNextValidPosition(Position position)
    {
        lock (_lock)
        {
            var next = NextValidLocked(position);
            // Within the log the next position is strictly after; past its end it is the end.
            Debug.Assert(next > position || position > _lastConfirmed, $"next of {position} went back to {next}");
            return next;
        }
    }

    private Position NextValidLocked(Position position)
    {
        foreach (var l in _ledgers)
        {
            if (l.LedgerId < position.LedgerId)
            {
                continue;
            }
            long entries = EntriesOfLocked(l);
            if (l.LedgerId == position.LedgerId)
            {
                if (position.EntryId + 1 < entries || IsCurrentLocked(l.LedgerId))
                {
                    return new Position(l.LedgerId, position.EntryId + 1);
                }
                continue;
            }
            if (entries > 0 || IsCurrentLocked(l.LedgerId))
            {
                return new Position(l.LedgerId, 0);
            }
        }
        return new Position(_lastConfirmed.LedgerId, _lastConfirmed.EntryId + 1);
    }

    /// <summary>Position of the first stored entry (or of the next entry to be written when the log is empty).</summary>
    public Position FirstPosition => GetNextValidPosition(new Position(-1, -1));

    /// <summary>The mark-delete position that acknowledges nothing: just before <see cref="FirstPosition"/>.</summary>
    public Position BeforeFirstPosition
    {
        get
        {
            var first = FirstPosition;
            return new Position(first.LedgerId, first.EntryId - 1);
        }
    }

    /// <summary>Whether <paramref name="position"/> names a stored (completed) entry.</summary>
    public bool IsValidEntry(Position position)
    {
        lock (_lock)
        {
            if (position.EntryId < 0 || position > _lastConfirmed)
            {
                return false;
            }
            foreach (var l in _ledgers)
            {
                if (l.LedgerId == position.LedgerId)
                {
                    return position.EntryId < EntriesOfLocked(l);
                }
            }
            return false;
        }
    }

    /// <summary>Entries in (<paramref name="fromExclusive"/>, <paramref name="toInclusive"/>].</summary>
    public long GetNumberOfEntries(Position fromExclusive, Position toInclusive)
    {
        lock (_lock)
        {
            long count = 0;
            foreach (var l in _ledgers)
            {
                long entries = EntriesOfLocked(l);
                long first = 0, last = entries - 1;
                if (l.LedgerId < fromExclusive.LedgerId || l.LedgerId > toInclusive.LedgerId)
                {
                    continue;
                }
                if (l.LedgerId == fromExclusive.LedgerId)
                {
                    first = Math.Max(first, fromExclusive.EntryId + 1);
                }
                if (l.LedgerId == toInclusive.LedgerId)
                {
                    last = Math.Min(last, toInclusive.EntryId);
                }
                if (last >= first)
                {
                    count += last - first + 1;
                }
            }
            return count;
        }
    }

    /// <summary>Total entries stored.</summary>
    public long NumberOfEntries
    {
        get
        {
            lock (_lock)
            {
                long count = 0;
                foreach (var l in _ledgers)
                {
                    count += EntriesOfLocked(l);
                }
                return count;
            }
        }
    }

    /// <summary>Total payload bytes stored.</summary>
    public long TotalSizeBytes
    {
        get
        {
            lock (_lock)
            {
                long size = 0;
                foreach (var l in _ledgers)
                {
                    size += _current is not null && l.LedgerId == _current.LedgerId ? _currentSize : l.Size;
                }
                return size;
            }
        }
    }

    /// <summary>The position of the <paramref name="index"/>-th stored entry (0-based), or null beyond the end.</summary>
    public Position? PositionAtIndex(long index)
    {
        lock (_lock)
        {
            foreach (var l in _ledgers)
            {
                long entries = EntriesOfLocked(l);
                if (index < entries)
                {
                    return new Position(l.LedgerId, index);
                }
                index -= entries;
            }
            return null;
        }
    }

    /// <summary>A snapshot of the ledger list (the current ledger with its live counts).</summary>
    public IReadOnlyList<LedgerInfo> GetLedgers()
    {
        lock (_lock)
        {
            var copy = new List<LedgerInfo>(_ledgers.Count);
            foreach (var l in _ledgers)
            {
                var c = new LedgerInfo(l);
                if (IsCurrentLocked(l.LedgerId))
                {
                    c.Entries = _currentEntries;
                    c.Size = _currentSize;
                }
                copy.Add(c);
            }
            return copy;
        }
    }

    // ---- reads ----

    /// <summary>
    /// Reads up to <paramref name="maxEntries"/> stored entries from <paramref name="start"/> (normalised to the next
    /// valid position) within one ledger: from the tail cache when all are cached, else from the bookies. Empty when
    /// nothing is stored at or after <paramref name="start"/>.
    /// </summary>
    public async Task<IReadOnlyList<Entry>> ReadEntriesAsync(Position start, int maxEntries, CancellationToken ct = default)
    {
        long ledgerId, last;
        LedgerHandle? writer = null;
        lock (_lock)
        {
            if (start.EntryId < 0)
            {
                start = new Position(start.LedgerId, -1);
                start = NextValidLocked(start);
            }
            else if (!ContainsLedgerLocked(start.LedgerId) || (start.EntryId >= EntriesOfLocked(FindLocked(start.LedgerId)!) && !IsCurrentLocked(start.LedgerId)))
            {
                start = NextValidLocked(new Position(start.LedgerId, long.MaxValue - 1));
            }
            if (start > _lastConfirmed)
            {
                return Array.Empty<Entry>();
            }
            ledgerId = start.LedgerId;
            if (IsCurrentLocked(ledgerId))
            {
                writer = _current;
                last = _lastConfirmed.LedgerId == ledgerId ? _lastConfirmed.EntryId : -1;
            }
            else
            {
                last = EntriesOfLocked(FindLocked(ledgerId)!) - 1;
            }
        }
        long to = Math.Min(last, start.EntryId + maxEntries - 1);
        if (to < start.EntryId)
        {
            return Array.Empty<Entry>();
        }
        var result = new List<Entry>((int)(to - start.EntryId + 1));
        for (long e = start.EntryId; e <= to; e++)
        {
            var p = new Position(ledgerId, e);
            if (!_cache.TryGet(InstanceId, p, out var data))
            {
                break;
            }
            result.Add(new Entry(p, data));
        }
        long first = start.EntryId + result.Count;
        if (first > to)
        {
            return result;
        }
        IReadOnlyList<LedgerEntry> read;
        if (writer is not null)
        {
            read = await writer.ReadAsync(first, to, ct).ConfigureAwait(false);
        }
        else
        {
            var reader = await GetReadHandleAsync(ledgerId, ct).ConfigureAwait(false);
            read = await reader.ReadAsync(first, to, ct).ConfigureAwait(false);
        }
        foreach (var entry in read)
        {
            Debug.Assert(entry.LedgerId == ledgerId && entry.EntryId == start.EntryId + result.Count, "entries read back in order");
            result.Add(new Entry(new Position(entry.LedgerId, entry.EntryId), entry.Payload));
        }
        return result;
    }

    /// <summary>Reads the stored entry at <paramref name="position"/>; <see cref="InvalidMessageIdException"/> when there is none.</summary>
    public async Task<Entry> ReadEntryAsync(Position position, CancellationToken ct = default)
    {
        if (!IsValidEntry(position))
        {
            throw new InvalidMessageIdException($"no entry {position} in {Name}");
        }
        var entries = await ReadEntriesAsync(position, 1, ct).ConfigureAwait(false);
        if (entries.Count == 0 || entries[0].Position != position)
        {
            throw new InvalidMessageIdException($"entry {position} of {Name} was deleted");
        }
        return entries[0];
    }

    private bool ContainsLedgerLocked(long ledgerId) => FindLocked(ledgerId) is not null;

    private LedgerInfo? FindLocked(long ledgerId)
    {
        foreach (var l in _ledgers)
        {
            if (l.LedgerId == ledgerId)
            {
                return l;
            }
        }
        return null;
    }

    private async Task<ReadOnlyLedgerHandle> GetReadHandleAsync(long ledgerId, CancellationToken ct)
    {
        lock (_lock)
        {
            if (_readHandles.TryGetValue(ledgerId, out var cached))
            {
                return cached;
            }
        }
        var handle = await _client.OpenReadOnlyAsync(ledgerId, ct).ConfigureAwait(false);
        lock (_lock)
        {
            if (ContainsLedgerLocked(ledgerId))
            {
                _readHandles[ledgerId] = handle;
            }
        }
        return handle;
    }

    // ---- retention ----

    /// <summary>
    /// Deletes whole closed ledgers that every cursor has passed (all entries ≤ <paramref name="slowestMarkDelete"/>)
    /// and that the retention policy no longer keeps: deleted when older than <paramref name="retentionTime"/> or
    /// while the stored size exceeds <paramref name="retentionSizeBytes"/> (negative: infinite). Returns the ids of
    /// the deleted ledgers. The current ledger is never deleted.
    /// </summary>
    public async Task<IReadOnlyList<long>> TrimConsumedLedgersAsync(Position slowestMarkDelete, TimeSpan retentionTime,
        long retentionSizeBytes, CancellationToken ct = default)
    {
        var doomed = new List<long>();
        if (retentionTime < TimeSpan.Zero && retentionSizeBytes < 0)
        {
            return doomed;
        }
        long nowMillis = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        lock (_lock)
        {
            if (_state is WriterState.Fenced or WriterState.Closed)
            {
                return doomed;
            }
            long totalSize = 0;
            foreach (var l in _ledgers)
            {
                totalSize += l.Size;
            }
            long deletedSize = 0;
            for (int i = 0; i < _ledgers.Count - 1; i++)
            {
                var l = _ledgers[i];
                if (IsCurrentLocked(l.LedgerId))
                {
                    break;
                }
                bool consumed = l.LedgerId < slowestMarkDelete.LedgerId
                    || (l.LedgerId == slowestMarkDelete.LedgerId && slowestMarkDelete.EntryId >= l.Entries - 1);
                if (!consumed)
                {
                    break;
                }
                // A closed ledger's age counts from its close, i.e. the creation of the next ledger.
                long closedMillis = _ledgers[i + 1].CtimeMillis;
                bool expired = retentionTime >= TimeSpan.Zero && nowMillis - closedMillis >= (long)retentionTime.TotalMilliseconds;
                bool overSize = retentionSizeBytes >= 0 && totalSize - deletedSize > retentionSizeBytes;
                if (!expired && !overSize)
                {
                    break;
                }
                doomed.Add(l.LedgerId);
                deletedSize += l.Size;
            }
        }
        if (doomed.Count == 0)
        {
            return doomed;
        }
        await UpdateInfoAsync(list => list.RemoveAll(l => doomed.Contains(l.LedgerId))).ConfigureAwait(false);
        foreach (long id in doomed)
        {
            lock (_lock)
            {
                _readHandles.Remove(id);
            }
            _cache.InvalidateLedger(InstanceId, id);
            await DeleteLedgerQuietlyAsync(id).ConfigureAwait(false);
        }
        _logger.LogInformation("Deleted consumed ledgers {Ledgers} of {Topic}", string.Join(",", doomed), Name.FullName);
        return doomed;
    }

    private async Task DeleteLedgerQuietlyAsync(long ledgerId)
    {
        try
        {
            await _client.DeleteLedgerAsync(ledgerId).ConfigureAwait(false);
        }
        catch (NoSuchLedgerException)
        {
        }
        catch (Exception ex)
        {
            _logger.LogWarning(ex, "Could not delete ledger {LedgerId} of {Topic}", ledgerId, Name.FullName);
        }
    }

    // ---- lifecycle ----

    /// <summary>
    /// Closes the writer: new adds are refused, in-flight adds are given <paramref name="drainTimeout"/> to complete,
    /// then the current ledger is closed. The metadata stays (the next owner recovers it).
    /// </summary>
    public async Task CloseAsync(TimeSpan? drainTimeout = null)
    {
        List<AddOp>? toFail;
        LedgerHandle? current;
        lock (_lock)
        {
            if (_state == WriterState.Closed)
            {
                return;
            }
            _state = WriterState.Closed;
            toFail = _queued.Count > 0 ? new List<AddOp>(_queued) : null;
            _queued.Clear();
            current = _current;
        }
        FailAll(toFail, new ServiceNotReadyException($"managed ledger {Name} is closing"));
        var deadline = Environment.TickCount64 + (long)(drainTimeout ?? TimeSpan.FromSeconds(5)).TotalMilliseconds;
        while (Environment.TickCount64 < deadline)
        {
            lock (_lock)
            {
                if (_inFlight == 0)
                {
                    break;
                }
            }
            await Task.Delay(5).ConfigureAwait(false);
        }
        if (current is not null)
        {
            await current.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Closes, then deletes every ledger and the metadata (children included).</summary>
    public async Task DeleteAsync(CancellationToken ct = default)
    {
        await CloseAsync().ConfigureAwait(false);
        IReadOnlyList<LedgerInfo> ledgers;
        lock (_lock)
        {
            ledgers = new List<LedgerInfo>(_ledgers);
        }
        await _store.DeleteRecursiveAsync(Path, ct).ConfigureAwait(false);
        foreach (var l in ledgers)
        {
            await DeleteLedgerQuietlyAsync(l.LedgerId).ConfigureAwait(false);
        }
    }

    public ValueTask DisposeAsync() => new(CloseAsync());
}
