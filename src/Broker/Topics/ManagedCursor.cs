using System.Diagnostics;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Pulsarish.Broker.Errors;
using Pulsarish.Protocol.Errors;
using Pulsarish.Ledgers;
using Pulsarish.Metadata;
using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Broker.Topics;

/// <summary>
/// A durable subscription position on a <see cref="ManagedLedger"/> (DESIGN.md §2): the mark-delete position
/// (everything at or before it is acknowledged), the individually deleted entries above it, and per-entry batch
/// index acknowledgements (in memory only: a restart redelivers a partly acknowledged batch whole).
/// <para>
/// Durability follows Pulsar: an acknowledgement is applied in memory at once and persisted asynchronously as a
/// <see cref="CursorSnapshot"/> entry in the cursor's ledger, at most once per
/// <see cref="ManagedLedgerConfig.CursorPersistInterval"/>. A crash may therefore redeliver messages acknowledged in
/// the last interval (at-least-once); an orderly close (<see cref="FlushAsync"/>) persists the final state. The
/// cursor ledger id is kept in <see cref="CursorInfo"/> at /managed-ledgers/…/&lt;topic&gt;/&lt;sub&gt;; recovery
/// opens that ledger with recovery (fencing the previous owner) and reads its last snapshot.
/// </para>
/// <para>
/// A <b>non-durable</b> cursor (<see cref="CreateNonDurable"/>, a reader's) has the same in-memory state but no
/// cursor ledger and no metadata record: nothing is persisted and nothing is left behind when it goes away (Pulsar's
/// NonDurableCursorImpl).
/// </para>
/// Thread-safe.
/// </summary>
public sealed class ManagedCursor
{
    private readonly object _lock = new();
    private readonly ManagedLedger _ml;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _persistGate = new(1, 1);
    private readonly PositionRangeSet _individuallyDeleted = new();
    private readonly Dictionary<Position, ulong[]> _batchAcks = new();
    private Position _markDelete;
    private Position _readPosition;
    private LedgerHandle? _cursorLedger;
    private long _cursorLedgerEntries;
    private long _infoVersion;
    private bool _dirty;
    private bool _flushScheduled;
    private long _lastPersistMillis;
    private long _changeVersion;
    private long _persistedVersion;
    private bool _closed;

    private ManagedCursor(ManagedLedger ml, string name, Position markDelete, ILogger logger)
    {
        _ml = ml;
        Name = name;
        Path = ManagedLedgerPaths.Cursor(ml.Path, name);
        _logger = logger;
        _markDelete = markDelete;
        _readPosition = ml.GetNextValidPosition(markDelete);
        AssertPositionsLocked();
    }

    public string Name { get; }

    /// <summary>False for a reader's cursor: kept in memory only.</summary>
    public bool IsDurable { get; private init; } = true;

    /// <summary>Metadata path of the <see cref="CursorInfo"/>.</summary>
    public string Path { get; }

    /// <summary>Raised when the cursor ledger was fenced: another broker recovered this cursor.</summary>
    public event Action<Exception>? Fenced;

    /// <summary>Everything at or before this position is acknowledged.</summary>
    public Position MarkDeletePosition { get { lock (_lock) { return _markDelete; } } }

    /// <summary>
    /// The next position the dispatcher reads; always after the mark-delete position. Set at or before it (the
    /// mark-delete position passed it meanwhile), it becomes the first unacknowledged entry after it (Pulsar's
    /// setReadPosition keeps the read position ahead of the mark-delete position too).
    /// </summary>
    public Position ReadPosition
    {
        get { lock (_lock) { return _readPosition; } }
        set
        {
            lock (_lock)
            {
                _readPosition = value > _markDelete ? value : NextUnackedLocked(_markDelete);
                AssertPositionsLocked();
            }
        }
    }

    /// <summary>Id of the cursor ledger (0 when none).</summary>
    public long CursorLedgerId { get { lock (_lock) { return _cursorLedger?.LedgerId ?? 0; } } }

    /// <summary>Acknowledged entries above the mark-delete position.</summary>
    public long IndividuallyDeletedCount { get { lock (_lock) { return _individuallyDeleted.Count; } } }

    /// <summary>Creates a new cursor with its ledger and metadata; mark-delete at <paramref name="markDelete"/>.</summary>
    public static async Task<ManagedCursor> CreateAsync(ManagedLedger ml, string name, Position markDelete, ILogger logger,
        CancellationToken ct = default)
    {
        var cursor = new ManagedCursor(ml, name, markDelete, logger);
        cursor._infoVersion = -1;
        await cursor.SwitchCursorLedgerAsync(ct).ConfigureAwait(false);
        logger.LogInformation("Created cursor {Cursor} on {Topic} at {MarkDelete}", name, ml.Name.FullName, markDelete);
        return cursor;
    }

    /// <summary>
    /// A non-durable cursor (a reader's): mark-delete at <paramref name="markDelete"/>, no ledger, no metadata.
    /// </summary>
    public static ManagedCursor CreateNonDurable(ManagedLedger ml, string name, Position markDelete, ILogger logger)
    {
        var cursor = new ManagedCursor(ml, name, markDelete, logger) { IsDurable = false };
        logger.LogDebug("Created non-durable cursor {Cursor} on {Topic} at {MarkDelete}", name, ml.Name.FullName, markDelete);
        return cursor;
    }

    /// <summary>
    /// Recovers a cursor from its metadata: opens its ledger WITH RECOVERY (fencing a previous owner), reads the last
    /// snapshot, then starts a new cursor ledger holding that snapshot. Null when the cursor does not exist.
    /// </summary>
    public static async Task<ManagedCursor?> RecoverAsync(ManagedLedger ml, string name, ILogger logger, CancellationToken ct = default)
    {
        string path = ManagedLedgerPaths.Cursor(ml.Path, name);
        var stored = await ml.Store.GetAsync(path, ct).ConfigureAwait(false);
        if (stored is null)
        {
            return null;
        }
        CursorInfo info;
        try
        {
            info = CursorInfo.Parser.ParseFrom(stored.Value);
        }
        catch (InvalidProtocolBufferException ex)
        {
            throw new PersistenceException($"corrupt cursor metadata at {path}", ex);
        }
        var markDelete = Position.FromProto(info.MarkDelete);
        CursorSnapshot? snapshot = null;
        if (info.CursorLedgerId > 0)
        {
            try
            {
                var reader = await ml.Client.OpenWithRecoveryAsync(info.CursorLedgerId, ct).ConfigureAwait(false);
                if (reader.LastAddConfirmed >= 0)
                {
                    var last = await reader.ReadAsync(reader.LastAddConfirmed, reader.LastAddConfirmed, ct).ConfigureAwait(false);
                    snapshot = CursorSnapshot.Parser.ParseFrom(last[0].Payload.Span);
                }
            }
            catch (NoSuchLedgerException)
            {
                logger.LogWarning("Cursor ledger {LedgerId} of {Cursor} is gone; using the metadata position", info.CursorLedgerId, name);
            }
            catch (InvalidProtocolBufferException ex)
            {
                throw new PersistenceException($"corrupt snapshot in cursor ledger {info.CursorLedgerId}", ex);
            }
        }
        if (snapshot is not null)
        {
            markDelete = Position.Max(markDelete, Position.FromProto(snapshot.MarkDelete));
        }
        var cursor = new ManagedCursor(ml, name, markDelete, logger) { _infoVersion = stored.Stat.Version };
        if (snapshot is not null)
        {
            foreach (var range in snapshot.IndividuallyDeleted)
            {
                var from = Position.FromProto(range.From);
                var to = Position.FromProto(range.To);
                if (from.LedgerId != to.LedgerId || to.EntryId <= from.EntryId || from.EntryId < -1)
                {
                    throw new PersistenceException($"invalid range {from}..{to} in cursor {name}");
                }
                long first = from.EntryId + 1;
                if (from.LedgerId < markDelete.LedgerId)
                {
                    continue;
                }
                if (from.LedgerId == markDelete.LedgerId)
                {
                    first = Math.Max(first, markDelete.EntryId + 1);
                }
                cursor._individuallyDeleted.AddRange(from.LedgerId, first, to.EntryId);
            }
            lock (cursor._lock)
            {
                cursor.AdvanceMarkDeleteLocked();
                cursor._readPosition = cursor.NextUnackedLocked(cursor._markDelete);
                cursor.AssertPositionsLocked();
            }
        }
        await cursor.SwitchCursorLedgerAsync(ct).ConfigureAwait(false);
        if (info.CursorLedgerId > 0)
        {
            try
            {
                await ml.Client.DeleteLedgerAsync(info.CursorLedgerId, ct).ConfigureAwait(false);
            }
            catch (NoSuchLedgerException)
            {
            }
        }
        logger.LogInformation("Recovered cursor {Cursor} on {Topic} at {MarkDelete} with {Deleted} individually deleted",
            name, ml.Name.FullName, cursor.MarkDeletePosition, cursor.IndividuallyDeletedCount);
        return cursor;
    }

    /// <summary>
    /// The cursor's invariants: mark-delete position &lt; read position; individually deleted entries and partly
    /// acknowledged batches lie above the mark-delete position.
    /// </summary>
    [Conditional("DEBUG")]
    private void AssertPositionsLocked()
    {
        Debug.Assert(_readPosition > _markDelete, $"read position {_readPosition} not after mark-delete {_markDelete} of {Name}");
        Debug.Assert(_individuallyDeleted.FirstRange is not { } first || new Position(first.LedgerId, first.Range.First) > _markDelete,
            $"individually deleted entries at or below mark-delete {_markDelete} of {Name}");
        foreach (var p in _batchAcks.Keys)
        {
            Debug.Assert(p > _markDelete && !_individuallyDeleted.Contains(p), $"batch acks kept for acknowledged {p} of {Name}");
        }
    }

    // ---- acknowledgement ----

    /// <summary>Whether the entry at <paramref name="position"/> is acknowledged.</summary>
    public bool IsAcknowledged(Position position)
    {
        lock (_lock)
        {
            return position <= _markDelete || _individuallyDeleted.Contains(position);
        }
    }

    /// <summary>Whether message <paramref name="batchIndex"/> of the entry is acknowledged.</summary>
    public bool IsBatchIndexAcknowledged(Position position, int batchIndex)
    {
        lock (_lock)
        {
            if (position <= _markDelete || _individuallyDeleted.Contains(position))
            {
                return true;
            }
            return _batchAcks.TryGetValue(position, out var bits) && (bits[batchIndex >> 6] & (1UL << (batchIndex & 63))) != 0;
        }
    }

    /// <summary>Acknowledges one entry. Returns false when it was already acknowledged.</summary>
    public bool AcknowledgeIndividual(Position position)
    {
        lock (_lock)
        {
            if (!AckLocked(position))
            {
                return false;
            }
        }
        ScheduleFlush();
        return true;
    }

    /// <summary>Acknowledges several entries at once.</summary>
    public int AcknowledgeIndividual(IReadOnlyList<Position> positions)
    {
        int changed = 0;
        lock (_lock)
        {
            for (int i = 0; i < positions.Count; i++)
            {
                if (AckLocked(positions[i]))
                {
                    changed++;
                }
            }
        }
        if (changed > 0)
        {
            ScheduleFlush();
        }
        return changed;
    }

    private bool AckLocked(Position position)
    {
        if (position <= _markDelete || !_individuallyDeleted.Add(position))
        {
            return false;
        }
        _batchAcks.Remove(position);
        AdvanceMarkDeleteLocked();
        KeepReadAheadLocked();
        _changeVersion++;
        return true;
    }

    /// <summary>
    /// Acknowledges message <paramref name="batchIndex"/> of a batch of <paramref name="batchSize"/>; the entry is
    /// acknowledged once every message of it is. Returns true when the entry became acknowledged.
    /// </summary>
    public bool AcknowledgeBatchIndex(Position position, int batchIndex, int batchSize)
    {
        Debug.Assert(batchIndex >= 0 && batchIndex < batchSize);
        bool entryDone;
        lock (_lock)
        {
            if (position <= _markDelete || _individuallyDeleted.Contains(position))
            {
                return false;
            }
            if (!_batchAcks.TryGetValue(position, out var bits))
            {
                bits = new ulong[(batchSize + 63) >> 6];
                _batchAcks[position] = bits;
            }
            bits[batchIndex >> 6] |= 1UL << (batchIndex & 63);
            entryDone = true;
            for (int i = 0; i < batchSize; i++)
            {
                if ((bits[i >> 6] & (1UL << (i & 63))) == 0)
                {
                    entryDone = false;
                    break;
                }
            }
            if (!entryDone)
            {
                return false;
            }
            AckLocked(position);
        }
        ScheduleFlush();
        return true;
    }

    /// <summary>Cumulative acknowledgement: everything up to <paramref name="position"/>. False when nothing changed.</summary>
    public bool MarkDelete(Position position)
    {
        lock (_lock)
        {
            if (position <= _markDelete)
            {
                return false;
            }
            MarkDeleteLocked(position);
            KeepReadAheadLocked();
        }
        ScheduleFlush();
        return true;
    }

    private void MarkDeleteLocked(Position position)
    {
        Debug.Assert(position > _markDelete, "mark-delete moves forward (only a reset moves it back)");
        _markDelete = position;
        _individuallyDeleted.RemoveUpTo(position);
        if (_batchAcks.Count > 0)
        {
            List<Position>? drop = null;
            foreach (var p in _batchAcks.Keys)
            {
                if (p <= position)
                {
                    (drop ??= new()).Add(p);
                }
            }
            if (drop is not null)
            {
                foreach (var p in drop)
                {
                    _batchAcks.Remove(p);
                }
            }
        }
        AdvanceMarkDeleteLocked();
        _changeVersion++;
    }

    /// <summary>Moves the mark-delete position over individually deleted entries that follow it.</summary>
    private void AdvanceMarkDeleteLocked()
    {
        while (_individuallyDeleted.FirstRange is { } first)
        {
            var next = _ml.GetNextValidPosition(_markDelete);
            if (new Position(first.LedgerId, first.Range.First) > next)
            {
                break;
            }
            // The first range is contiguous: the mark-delete position jumps to its end.
            var end = new Position(first.LedgerId, first.Range.Last);
            Debug.Assert(end > _markDelete, "individually deleted entries lie above the mark-delete position");
            _individuallyDeleted.RemoveUpTo(end);
            _markDelete = end;
        }
    }

    /// <summary>After the mark-delete position moved: a read position it passed moves to the first unacknowledged entry.</summary>
    private void KeepReadAheadLocked()
    {
        if (_readPosition <= _markDelete)
        {
            _readPosition = NextUnackedLocked(_markDelete);
        }
        AssertPositionsLocked();
    }

    /// <summary>The first position after <paramref name="position"/> that is not acknowledged.</summary>
    private Position NextUnackedLocked(Position position)
    {
        var next = _ml.GetNextValidPosition(position);
        while (_individuallyDeleted.TryGetRangeEnd(next, out long last))
        {
            var after = _ml.GetNextValidPosition(new Position(next.LedgerId, last));
            Debug.Assert(after > next, "the next unacknowledged position moves forward");
            next = after;
        }
        return next;
    }

    /// <summary>The first position at or after <paramref name="position"/> that is not acknowledged.</summary>
    public Position FirstUnackedAtOrAfter(Position position)
    {
        lock (_lock)
        {
            if (position <= _markDelete)
            {
                return NextUnackedLocked(_markDelete);
            }
            return _individuallyDeleted.Contains(position) ? NextUnackedLocked(position) : position;
        }
    }

    /// <summary>
    /// Resets the cursor so that <paramref name="target"/> is the next entry delivered (Pulsar's resetCursor):
    /// mark-delete just before it, individual acknowledgements dropped. Backwards and forwards.
    /// </summary>
    public void ResetTo(Position target)
    {
        Debug.Assert(target.EntryId >= 0, "a reset names an entry");
        lock (_lock)
        {
            _individuallyDeleted.Clear();
            _batchAcks.Clear();
            _markDelete = new Position(target.LedgerId, target.EntryId - 1);
            _readPosition = _ml.GetNextValidPosition(_markDelete);
            AssertPositionsLocked();
            _changeVersion++;
        }
        ScheduleFlush();
    }

    /// <summary>Acknowledges the next <paramref name="count"/> unacknowledged entries. Returns how many were skipped.</summary>
    public long Skip(long count)
    {
        long skipped = 0;
        lock (_lock)
        {
            var last = _ml.LastConfirmedPosition;
            var cursor = _markDelete;
            while (skipped < count)
            {
                var next = _ml.GetNextValidPosition(cursor);
                Debug.Assert(next > cursor, "skipping moves forward");
                if (next > last)
                {
                    break;
                }
                if (!_individuallyDeleted.Contains(next))
                {
                    skipped++;
                }
                cursor = next;
            }
            if (cursor > _markDelete)
            {
                MarkDeleteLocked(cursor);
                KeepReadAheadLocked();
            }
        }
        ScheduleFlush();
        return skipped;
    }

    /// <summary>Unacknowledged entries between the mark-delete position and the end of the log.</summary>
    public long Backlog
    {
        get
        {
            lock (_lock)
            {
                long total = _ml.GetNumberOfEntries(_markDelete, _ml.LastConfirmedPosition);
                return Math.Max(0, total - _individuallyDeleted.Count);
            }
        }
    }

    // ---- persistence ----

    private void ScheduleFlush()
    {
        long delayMillis;
        lock (_lock)
        {
            _dirty = true;
            if (_flushScheduled || _closed || !IsDurable)
            {
                return;
            }
            _flushScheduled = true;
            long interval = (long)_mlConfigInterval().TotalMilliseconds;
            delayMillis = Math.Max(0, _lastPersistMillis + interval - Environment.TickCount64);
        }
        _ = Task.Run(async () =>
        {
            if (delayMillis > 0)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(delayMillis)).ConfigureAwait(false);
            }
            lock (_lock)
            {
                _flushScheduled = false;
                if (_closed)
                {
                    return;
                }
            }
            try
            {
                await FlushAsync().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                _logger.LogWarning(ex, "Persisting cursor {Cursor} of {Topic} failed", Name, _ml.Name.FullName);
            }
        });
    }

    private TimeSpan _mlConfigInterval() => _ml.Config.CursorPersistInterval;

    private CursorSnapshot BuildSnapshotLocked()
    {
        var snapshot = new CursorSnapshot { MarkDelete = _markDelete.ToProto() };
        int maxRanges = _ml.Config.MaxUnackedRangesToPersist;
        foreach (var (ledgerId, range) in _individuallyDeleted.Ranges())
        {
            if (snapshot.IndividuallyDeleted.Count >= maxRanges)
            {
                break;
            }
            AddRange(snapshot, new Position(ledgerId, range.First), new Position(ledgerId, range.Last));
        }
        return snapshot;
    }

    private static void AddRange(CursorSnapshot snapshot, Position first, Position last) =>
        snapshot.IndividuallyDeleted.Add(new PositionRange
        {
            From = new Position(first.LedgerId, first.EntryId - 1).ToProto(),
            To = last.ToProto(),
        });

    /// <summary>Persists the current state now if it changed since the last snapshot (the close path awaits this).</summary>
    public async Task FlushAsync(CancellationToken ct = default)
    {
        if (!IsDurable)
        {
            return;
        }
        await _persistGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            CursorSnapshot snapshot;
            LedgerHandle? ledger;
            long version;
            lock (_lock)
            {
                if (!_dirty || _changeVersion == _persistedVersion)
                {
                    _dirty = false;
                    return;
                }
                snapshot = BuildSnapshotLocked();
                version = _changeVersion;
                _dirty = false;
                ledger = _cursorLedger;
            }
            bool switchLedger = ledger is null || !ledger.IsWritable || _cursorLedgerEntries >= _ml.Config.CursorMaxEntriesPerLedger;
            if (!switchLedger)
            {
                try
                {
                    await ledger!.AddAsync(snapshot.ToByteArray()).ConfigureAwait(false);
                    _cursorLedgerEntries++;
                }
                catch (LedgerFencedException ex)
                {
                    _logger.LogWarning("Cursor ledger {LedgerId} of {Cursor} is fenced: another owner", ledger!.LedgerId, Name);
                    lock (_lock)
                    {
                        _closed = true;
                    }
                    Fenced?.Invoke(ex);
                    throw new TopicFencedException(_ml.Name.FullName, ex);
                }
                catch (PulsarishException ex)
                {
                    _logger.LogWarning(ex, "Cursor ledger {LedgerId} of {Cursor} failed; switching ledgers", ledger!.LedgerId, Name);
                    switchLedger = true;
                }
            }
            if (switchLedger)
            {
                await SwitchCursorLedgerCoreAsync(snapshot, ct).ConfigureAwait(false);
            }
            lock (_lock)
            {
                _persistedVersion = Math.Max(_persistedVersion, version);
                _lastPersistMillis = Environment.TickCount64;
            }
        }
        finally
        {
            _persistGate.Release();
        }
    }

    private async Task SwitchCursorLedgerAsync(CancellationToken ct)
    {
        CursorSnapshot snapshot;
        lock (_lock)
        {
            snapshot = BuildSnapshotLocked();
        }
        await _persistGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await SwitchCursorLedgerCoreAsync(snapshot, ct).ConfigureAwait(false);
        }
        finally
        {
            _persistGate.Release();
        }
    }

    /// <summary>New cursor ledger holding <paramref name="snapshot"/>, CAS of the CursorInfo, old ledger deleted.</summary>
    private async Task SwitchCursorLedgerCoreAsync(CursorSnapshot snapshot, CancellationToken ct)
    {
        var config = _ml.Config;
        var custom = new Dictionary<string, string> { ["pulsarish/cursor"] = _ml.Name.FullName + "/" + Name };
        var ledger = await _ml.Client.CreateLedgerAsync(config.EnsembleSize, config.WriteQuorum, config.AckQuorum,
            customMetadata: custom, ct: ct).ConfigureAwait(false);
        await ledger.AddAsync(snapshot.ToByteArray()).ConfigureAwait(false);
        var info = new CursorInfo { CursorLedgerId = ledger.LedgerId, MarkDelete = snapshot.MarkDelete };
        Stat stat;
        try
        {
            stat = await _ml.Store.PutAsync(Path, info.ToByteArray(), _infoVersion, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (ex is BadVersionException or NodeExistsException or NoNodeException)
        {
            await ledger.DisposeAsync().ConfigureAwait(false);
            await _ml.Client.DeleteLedgerAsync(ledger.LedgerId, ct).ConfigureAwait(false);
            lock (_lock)
            {
                _closed = true;
            }
            Fenced?.Invoke(ex);
            throw new TopicFencedException(_ml.Name.FullName, ex);
        }
        LedgerHandle? old;
        lock (_lock)
        {
            old = _cursorLedger;
            _cursorLedger = ledger;
            _cursorLedgerEntries = 1;
            _infoVersion = stat.Version;
            _lastPersistMillis = Environment.TickCount64;
        }
        if (old is not null)
        {
            await old.DisposeAsync().ConfigureAwait(false);
            try
            {
                await _ml.Client.DeleteLedgerAsync(old.LedgerId, ct).ConfigureAwait(false);
            }
            catch (NoSuchLedgerException)
            {
            }
        }
    }

    /// <summary>Persists the final state and closes the cursor ledger (topic unload).</summary>
    public async Task CloseAsync()
    {
        lock (_lock)
        {
            _dirty = true;
        }
        try
        {
            await FlushAsync().ConfigureAwait(false);
        }
        finally
        {
            LedgerHandle? ledger;
            lock (_lock)
            {
                _closed = true;
                ledger = _cursorLedger;
            }
            if (ledger is not null)
            {
                await ledger.DisposeAsync().ConfigureAwait(false);
            }
        }
    }

    /// <summary>
    /// Stops persisting without a final snapshot (the topic was fenced: another owner recovers this cursor) and
    /// releases the cursor ledger handle.
    /// </summary>
    public async Task AbandonAsync()
    {
        LedgerHandle? ledger;
        lock (_lock)
        {
            _closed = true;
            ledger = _cursorLedger;
        }
        if (ledger is not null)
        {
            try
            {
                await ledger.DisposeAsync().ConfigureAwait(false);
            }
            catch (PulsarishException ex)
            {
                _logger.LogDebug("Releasing cursor ledger {LedgerId} of {Cursor}: {Error}", ledger.LedgerId, Name, ex.Message);
            }
        }
    }

    /// <summary>Deletes the cursor: its ledger and its metadata (unsubscribe).</summary>
    public async Task DeleteAsync(CancellationToken ct = default)
    {
        LedgerHandle? ledger;
        lock (_lock)
        {
            _closed = true;
            ledger = _cursorLedger;
            _cursorLedger = null;
        }
        if (!IsDurable)
        {
            return;
        }
        await _ml.Store.DeleteRecursiveAsync(Path, ct).ConfigureAwait(false);
        if (ledger is not null)
        {
            await ledger.DisposeAsync().ConfigureAwait(false);
            try
            {
                await _ml.Client.DeleteLedgerAsync(ledger.LedgerId, ct).ConfigureAwait(false);
            }
            catch (NoSuchLedgerException)
            {
            }
        }
    }
}
