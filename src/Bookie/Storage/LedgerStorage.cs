using System.Buffers;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Runtime.CompilerServices;
using System.Threading.Tasks.Sources;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pulsarish.Protocol.Errors;
using RocksDbSharp;

namespace Pulsarish.Bookie.Storage;

/// <summary>
/// The bookie storage engine (DESIGN.md §5), DbLedgerStorage-like: <see cref="Journal"/> for durability,
/// <see cref="WriteCache"/> flushed into <see cref="EntryLog"/> files indexed by the RocksDB <see cref="LedgerIndex"/>,
/// <see cref="ReadCache"/> with read-ahead. Read path: write cache → read cache → index → entry log.
/// Restart replays the journal from the last checkpoint. Disk is reclaimed by <see cref="GarbageCollector"/> (with
/// <see cref="EntryLogCompactor"/>). Thread-safe; flushes, deletes and compaction are serialized by one maintenance
/// lock, while adds and reads run concurrently with them.
/// </summary>
public sealed class LedgerStorage : ILedgerStorage
{
    /// <summary>Longest master key accepted (BookKeeper's are 20-byte SHA-1 digests).</summary>
    public const int MaxMasterKeyBytes = 1024;

    private readonly StorageOptions _options;
    private readonly ILogger _logger;
    private readonly LedgerIndex _index;
    private readonly EntryLogger _entryLogger;
    private readonly WriteCache _writeCache;
    private readonly ReadCache _readCache;
    private readonly Journal _journal = null!;
    private readonly ConcurrentDictionary<long, LedgerState> _ledgers = new();
    private readonly ConcurrentDictionary<long, byte> _dirtyLedgers = new();
    private readonly ConcurrentQueue<PendingAdd> _freePendingAdds = new();
    private int _freePendingAddCount;
    private readonly EntryLogUsage _entryLogUsage;
    private readonly GarbageCollector _garbageCollector;
    private readonly SemaphoreSlim _maintenance = new(1, 1);
    private readonly SemaphoreSlim _flushSignal = new(0, int.MaxValue);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _flusher;
    private JournalPosition _lastCheckpoint;
    private int _flushPending;
    private int _disposed;
    private int _activeReads;
    private bool _closed;
    private long _entryLogReads;
    private long _writeCacheFullWaits;

    /// <summary>Opens (or creates) the storage under the configured directories and replays the journal.</summary>
    public LedgerStorage(StorageOptions options, ILogger<LedgerStorage>? logger = null)
    {
        options.Validate();
        _options = options;
        _logger = logger ?? NullLogger<LedgerStorage>.Instance;
        _index = new LedgerIndex(options.IndexDir);
        try
        {
            foreach (KeyValuePair<long, LedgerRecord> pair in _index.LoadLedgers())
            {
                _ledgers[pair.Key] = new LedgerState(pair.Key)
                {
                    Fenced = pair.Value.Fenced,
                    FenceDurable = pair.Value.Fenced,
                    MasterKey = pair.Value.MasterKey,
                    MasterKeyDurable = pair.Value.MasterKey is not null,
                    Lac = pair.Value.Lac,
                    LastEntryId = pair.Value.LastEntryId,
                };
            }
            _entryLogUsage = new EntryLogUsage(_index);
            _entryLogger = new EntryLogger(options, _logger);
            _garbageCollector = new GarbageCollector(this, options, _index, _entryLogger, _entryLogUsage, _logger);
            _writeCache = new WriteCache(options.WriteCacheMaxBytes);
            _readCache = new ReadCache(options.ReadCacheMaxBytes);
            JournalPosition checkpoint = _index.LoadCheckpoint() ?? default;
            var replayer = new JournalReplayer(options, _logger);
            long replayed = replayer.Replay(checkpoint, ReplayRecord);
            AcceptedJournalCorruption = replayer.AcceptedCorruption;
            _journal = new Journal(options, _logger);
            // Everything replayed goes to entry logs now, so the checkpoint moves to the start of the new journal file.
            FlushCore(checkpoint: true);
            _logger.LogInformation(
                "Storage opened: {LedgerCount} ledgers, {EntryLogCount} entry logs, {Replayed} journal records replayed from {Checkpoint}",
                _ledgers.Count, _entryLogger.Count, replayed, checkpoint);
        }
        catch
        {
            _journal?.Abandon();
            _entryLogger?.Dispose();
            _index.Dispose();
            throw;
        }
        _flusher = Task.Run(FlushLoopAsync);
    }

    /// <summary>Read cache hits since start.</summary>
    public long ReadCacheHits => _readCache.Hits;

    /// <summary>Reads served from entry log files since start.</summary>
    public long EntryLogReads => Interlocked.Read(ref _entryLogReads);

    /// <summary>Adds that had to wait because the write cache was full (back-pressure) since start.</summary>
    public long WriteCacheFullWaits => Interlocked.Read(ref _writeCacheFullWaits);

    /// <inheritdoc />
    public IReadOnlyList<JournalCorruption> AcceptedJournalCorruption { get; }

    /// <summary>The journal, for its counters.</summary>
    public Journal Journal => _journal;

    /// <inheritdoc />
    public ValueTask AddEntryAsync(long ledgerId, long entryId, ReadOnlyMemory<byte> masterKey, long lac,
        ReadOnlyMemory<byte> entry, bool recovery, CancellationToken ct = default)
    {
        // Not an async method: the common add (known ledger, room in the write cache) waits for the journal through
        // a pooled PendingAdd instead of a state-machine box per entry. Failures still surface through the task.
        try
        {
            LedgerState state = BeginAdd(ledgerId, entryId, masterKey, lac, entry, recovery, out bool journalKey);
            Task? spaceAvailable = null;
            if (journalKey || !_writeCache.TryAdd(ledgerId, entryId, entry.Span, out spaceAvailable))
            {
                return AddEntrySlowAsync(state, journalKey, spaceAvailable, ledgerId, entryId, lac, entry, recovery, ct);
            }
            ValueTask entryWrite = _journal.AppendAsync(JournalRecordKind.Entry, ledgerId, entryId, lac, entry, ct);
            if (entryWrite.IsCompleted)
            {
                entryWrite.GetAwaiter().GetResult();
                EndAdd(state, ledgerId, recovery, journalKey: false);
                return default;
            }
            return PendingAdd.Rent(this).Start(state, ledgerId, recovery, entryWrite);
        }
        catch (Exception e)
        {
            return ValueTask.FromException(e);
        }
    }

    /// <summary>Checks an add and records its ids in the ledger's state; the entry is not stored yet.</summary>
    private LedgerState BeginAdd(long ledgerId, long entryId, ReadOnlyMemory<byte> masterKey, long lac,
        ReadOnlyMemory<byte> entry, bool recovery, out bool journalKey)
    {
        ValidateIds(ledgerId, entryId);
        if (entry.IsEmpty)
        {
            throw new BadRequestException($"entry {ledgerId}:{entryId} is empty");
        }
        if (entry.Length > _options.MaxEntryBytes)
        {
            throw new TooLargeException($"entry {ledgerId}:{entryId} has {entry.Length} bytes, the maximum is {_options.MaxEntryBytes}");
        }
        ValidateMasterKey(masterKey);
        ThrowIfDisposed();
        LedgerState state = GetOrCreateAuthorized(ledgerId, masterKey, out journalKey);
        lock (state)
        {
            if (!recovery && state.Fenced)
            {
                throw new LedgerFencedException(ledgerId);
            }
            if (lac > state.Lac)
            {
                state.Lac = lac;
            }
            if (entryId > state.LastEntryId)
            {
                state.LastEntryId = entryId;
            }
        }
        _dirtyLedgers.TryAdd(ledgerId, 0);
        return state;
    }

    /// <summary>After the journal made the entry durable: refuses to acknowledge a normal add once a fence began.</summary>
    private static void EndAdd(LedgerState state, long ledgerId, bool recovery, bool journalKey)
    {
        lock (state)
        {
            if (journalKey)
            {
                state.MasterKeyDurable = true;
            }
            // Never acknowledge a normal add once the fence began: the fence answer must cover every acked entry (DESIGN §4).
            if (!recovery && state.Fenced)
            {
                throw new LedgerFencedException(ledgerId);
            }
        }
    }

    /// <summary>
    /// The rest of an add that must wait for write-cache space or journal the ledger's master key first.
    /// <paramref name="spaceAvailable"/> is set when the entry is not in the write cache yet.
    /// </summary>
    private async ValueTask AddEntrySlowAsync(LedgerState state, bool journalKey, Task? spaceAvailable, long ledgerId,
        long entryId, long lac, ReadOnlyMemory<byte> entry, bool recovery, CancellationToken ct)
    {
        // Into the write cache before the journal: that ordering makes the swap-time journal position a valid checkpoint.
        while (spaceAvailable is not null || !_writeCache.TryAdd(ledgerId, entryId, entry.Span, out spaceAvailable))
        {
            Interlocked.Increment(ref _writeCacheFullWaits);
            RequestFlush();
            await spaceAvailable!.WaitAsync(ct).ConfigureAwait(false);
            spaceAvailable = null;
        }
        ValueTask keyWrite = journalKey
            ? _journal.AppendAsync(JournalRecordKind.MasterKey, ledgerId, -1, -1, state.MasterKey, ct)
            : default;
        ValueTask entryWrite = _journal.AppendAsync(JournalRecordKind.Entry, ledgerId, entryId, lac, entry, ct);
        try
        {
            await keyWrite.ConfigureAwait(false);
        }
        finally
        {
            await entryWrite.ConfigureAwait(false);
        }
        EndAdd(state, ledgerId, recovery, journalKey);
    }

    /// <summary>
    /// The journal wait of one common add, reused across adds (at most <see cref="StorageOptions.JournalQueueCapacity"/>
    /// kept): its continuation is a cached delegate and its task a pooled <see cref="IValueTaskSource"/>, so an add
    /// allocates nothing here. The task handed out must be awaited exactly once, which returns the object.
    /// </summary>
    private sealed class PendingAdd : IValueTaskSource
    {
        private readonly LedgerStorage _owner;
        private readonly Action _onJournaled;
        private ManualResetValueTaskSourceCore<bool> _core;
        private ConfiguredValueTaskAwaitable.ConfiguredValueTaskAwaiter _journalWrite;
        private LedgerState _state = null!;
        private long _ledgerId;
        private bool _recovery;

        private PendingAdd(LedgerStorage owner)
        {
            _owner = owner;
            _onJournaled = OnJournaled;
        }

        public static PendingAdd Rent(LedgerStorage owner)
        {
            if (owner._freePendingAdds.TryDequeue(out PendingAdd? pending))
            {
                Interlocked.Decrement(ref owner._freePendingAddCount);
                return pending;
            }
            return new PendingAdd(owner);
        }

        public ValueTask Start(LedgerState state, long ledgerId, bool recovery, ValueTask entryWrite)
        {
            _state = state;
            _ledgerId = ledgerId;
            _recovery = recovery;
            var task = new ValueTask(this, _core.Version);
            _journalWrite = entryWrite.ConfigureAwait(false).GetAwaiter();
            _journalWrite.UnsafeOnCompleted(_onJournaled);
            return task;
        }

        private void OnJournaled()
        {
            var journalWrite = _journalWrite;
            _journalWrite = default;
            try
            {
                journalWrite.GetResult();
                EndAdd(_state, _ledgerId, _recovery, journalKey: false);
            }
            catch (Exception e)
            {
                _core.SetException(e);
                return;
            }
            _core.SetResult(true);
        }

        void IValueTaskSource.GetResult(short token)
        {
            try
            {
                _core.GetResult(token);
            }
            finally
            {
                _core.Reset();
                _state = null!;
                if (Interlocked.Increment(ref _owner._freePendingAddCount) <= _owner._options.JournalQueueCapacity)
                {
                    _owner._freePendingAdds.Enqueue(this);
                }
                else
                {
                    Interlocked.Decrement(ref _owner._freePendingAddCount);
                }
            }
        }

        ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

        void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token,
            ValueTaskSourceOnCompletedFlags flags) => _core.OnCompleted(continuation, state, token, flags);
    }

    /// <inheritdoc />
    public ValueTask<byte[]> ReadEntryAsync(long ledgerId, long entryId, CancellationToken ct = default)
    {
        ValidateIds(ledgerId, entryId);
        // Counted so that disposal waits for reads in flight before it closes the index and the files.
        Interlocked.Increment(ref _activeReads);
        try
        {
            ThrowIfDisposed();
            if (!_ledgers.TryGetValue(ledgerId, out LedgerState? state) || state.Deleted)
            {
                throw new NoSuchLedgerException(ledgerId);
            }
            if (_writeCache.TryGet(ledgerId, entryId, out byte[]? data) || _readCache.TryGet(ledgerId, entryId, out data))
            {
                return ValueTask.FromResult(data!);
            }
            return ValueTask.FromResult(ReadFromEntryLog(ledgerId, entryId));
        }
        finally
        {
            Interlocked.Decrement(ref _activeReads);
        }
    }

    /// <inheritdoc />
    public async ValueTask<LedgerInfo> FenceAsync(long ledgerId, ReadOnlyMemory<byte> masterKey, CancellationToken ct = default)
    {
        ValidateIds(ledgerId, 0);
        ValidateMasterKey(masterKey);
        ThrowIfDisposed();
        LedgerState state = GetOrCreateAuthorized(ledgerId, masterKey, out bool journalKey);
        bool journalFence;
        lock (state)
        {
            state.Fenced = true;
            journalFence = !state.FenceDurable;
        }
        _dirtyLedgers.TryAdd(ledgerId, 0);
        ValueTask keyWrite = journalKey
            ? _journal.AppendAsync(JournalRecordKind.MasterKey, ledgerId, -1, -1, state.MasterKey, ct)
            : default;
        ValueTask fenceWrite = journalFence
            ? _journal.AppendAsync(JournalRecordKind.Fence, ledgerId, -1, -1, ReadOnlyMemory<byte>.Empty, ct)
            : default;
        try
        {
            await keyWrite.ConfigureAwait(false);
        }
        finally
        {
            await fenceWrite.ConfigureAwait(false);
        }
        lock (state)
        {
            state.MasterKeyDurable |= journalKey;
            state.FenceDurable = true;
        }
        _logger.LogInformation("Ledger {LedgerId} fenced", ledgerId);
        return state.ToInfo();
    }

    /// <inheritdoc />
    public LedgerInfo? GetLedgerInfo(long ledgerId)
        => _ledgers.TryGetValue(ledgerId, out LedgerState? state) && !state.Deleted ? state.ToInfo() : null;

    /// <inheritdoc />
    public IReadOnlyCollection<long> ListLedgers()
    {
        var ids = new List<long>(_ledgers.Count);
        foreach (KeyValuePair<long, LedgerState> pair in _ledgers)
        {
            if (!pair.Value.Deleted)
            {
                ids.Add(pair.Key);
            }
        }
        ids.Sort();
        return ids;
    }

    /// <inheritdoc />
    public async ValueTask DeleteLedgerAsync(long ledgerId, CancellationToken ct = default)
    {
        ValidateIds(ledgerId, 0);
        ThrowIfDisposed();
        await DeleteLedgersAsync([ledgerId], ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Deletes ledgers: journals a delete record for each (one group commit for all), then removes their index
    /// records in one batch. Held under the maintenance lock from the journal records to the index deletion, so no
    /// checkpoint can pass a delete record while the ledger is still in the index (a crash there would resurrect it).
    /// Returns how many of them existed.
    /// </summary>
    internal async ValueTask<int> DeleteLedgersAsync(IReadOnlyList<long> ledgerIds, CancellationToken ct)
    {
        var deleted = new List<long>(ledgerIds.Count);
        var journalWrites = new List<ValueTask>(ledgerIds.Count);
        await _maintenance.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            ThrowIfClosed();
            foreach (long ledgerId in ledgerIds)
            {
                if (!_ledgers.TryRemove(ledgerId, out LedgerState? state))
                {
                    continue;
                }
                lock (state)
                {
                    state.Deleted = true;
                }
                _dirtyLedgers.TryRemove(ledgerId, out _);
                deleted.Add(ledgerId);
                // Journaled so that replaying older records after a crash cannot resurrect the ledger.
                journalWrites.Add(_journal.AppendAsync(JournalRecordKind.Delete, ledgerId, -1, -1, ReadOnlyMemory<byte>.Empty,
                    CancellationToken.None));
            }
            foreach (ValueTask write in journalWrites)
            {
                await write.ConfigureAwait(false);
            }
            if (deleted.Count > 0)
            {
                DeleteFromIndex(deleted);
            }
        }
        finally
        {
            _maintenance.Release();
        }
        foreach (long ledgerId in deleted)
        {
            _logger.LogInformation("Ledger {LedgerId} deleted", ledgerId);
        }
        return deleted.Count;
    }

    /// <inheritdoc />
    public ValueTask<GcResult> CollectGarbageAsync(Func<long, bool> isLive, GcTrigger trigger = GcTrigger.Forced,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(isLive);
        ThrowIfDisposed();
        return _garbageCollector.CollectAsync(isLive, trigger, ct);
    }

    /// <summary>Whether the ledger is stored and not deleted (the garbage collector's test of a live byte).</summary>
    internal bool IsStored(long ledgerId) => _ledgers.TryGetValue(ledgerId, out LedgerState? state) && !state.Deleted;

    /// <summary>Takes the maintenance lock (flush, delete, compaction) for the scope; throws once the storage closed.</summary>
    internal async ValueTask<MaintenanceScope> EnterMaintenanceAsync(CancellationToken ct)
    {
        await _maintenance.WaitAsync(ct).ConfigureAwait(false);
        if (_closed)
        {
            _maintenance.Release();
            ThrowIfClosed();
        }
        return new MaintenanceScope(_maintenance);
    }

    /// <summary>Holds the maintenance lock until disposed.</summary>
    internal readonly struct MaintenanceScope(SemaphoreSlim held) : IDisposable
    {
        public void Dispose() => held.Release();
    }

    /// <inheritdoc />
    public async ValueTask FlushAsync(CancellationToken ct = default)
    {
        ThrowIfDisposed();
        await _maintenance.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            ThrowIfClosed();
            FlushCore(checkpoint: true);
        }
        finally
        {
            _maintenance.Release();
        }
    }

    /// <summary>A snapshot of the storage counters (journal queue, caches, disk).</summary>
    public StorageStats GetStats()
    {
        long ledgersDirBytes = 0;
        foreach (string file in Directory.EnumerateFiles(_options.LedgersDir))
        {
            ledgersDirBytes += new FileInfo(file).Length;
        }
        long free = 0;
        long total = 0;
        try
        {
            var drive = new DriveInfo(Path.GetFullPath(_options.LedgersDir));
            free = drive.AvailableFreeSpace;
            total = drive.TotalSize;
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or ArgumentException)
        {
            _logger.LogDebug(e, "Could not read disk space of {LedgersDir}", _options.LedgersDir);
        }
        return new StorageStats(_journal.QueueLength, _journal.FsyncCount, _journal.RecordsWritten, _writeCache.Bytes,
            _readCache.Hits, _readCache.Misses, _entryLogger.Count, _ledgers.Count, ledgersDirBytes, free, total);
    }

    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        await StopFlusherAsync().ConfigureAwait(false);
        await _maintenance.WaitAsync().ConfigureAwait(false);
        try
        {
            try
            {
                FlushCore(checkpoint: true);
            }
            catch (Exception e)
            {
                _logger.LogError(e, "Final flush failed; the journal will be replayed on the next start");
            }
            _writeCache.Close();
            await _journal.DisposeAsync().ConfigureAwait(false);
            WaitForReadsToDrain();
            _closed = true;
            _entryLogger.Dispose();
            _index.Dispose();
        }
        finally
        {
            _maintenance.Release();
        }
    }

    private void WaitForReadsToDrain()
    {
        var spin = new SpinWait();
        while (Volatile.Read(ref _activeReads) != 0)
        {
            spin.SpinOnce();
        }
    }

    private void ThrowIfClosed() => ObjectDisposedException.ThrowIf(_closed, this);

    /// <summary>
    /// Test hook that simulates a crash: stops without flushing the write cache or moving the checkpoint, drops
    /// queued journal records and buffered entry log bytes, and closes every file.
    /// </summary>
    internal void SimulateCrash()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        StopFlusherAsync().AsTask().GetAwaiter().GetResult();
        _maintenance.Wait();
        try
        {
            _writeCache.Close();
            _journal.Abandon();
            WaitForReadsToDrain();
            _closed = true;
            _entryLogger.Abandon();
            _index.Dispose();
        }
        finally
        {
            _maintenance.Release();
        }
    }

    private async ValueTask StopFlusherAsync()
    {
        _stop.Cancel();
        try
        {
            await _flusher.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

    private async Task FlushLoopAsync()
    {
        CancellationToken stop = _stop.Token;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await _flushSignal.WaitAsync(_options.FlushInterval, stop).ConfigureAwait(false);
                Volatile.Write(ref _flushPending, 0);
                await _maintenance.WaitAsync(stop).ConfigureAwait(false);
                try
                {
                    ThrowIfClosed();
                    FlushCore(checkpoint: true);
                }
                finally
                {
                    _maintenance.Release();
                }
            }
            catch (OperationCanceledException) when (stop.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e)
            {
                _logger.LogError(e, "Background flush failed; retrying in {FlushInterval}", _options.FlushInterval);
            }
        }
    }

    private void RequestFlush()
    {
        if (Interlocked.Exchange(ref _flushPending, 1) == 0)
        {
            _flushSignal.Release();
        }
    }

    /// <summary>
    /// Flushes the write cache: sorted entries appended to the entry log, the log fdatasync'd, locations + ledger
    /// records + entry log usage + checkpoint written in ONE synchronous index batch, then journal files before the
    /// checkpoint deleted. Caller holds the maintenance lock (or is the constructor).
    /// </summary>
    private void FlushCore(bool checkpoint)
    {
        using WriteCache.FlushBatch batch = _writeCache.TrySwap(_journal);
        bool withCheckpoint = checkpoint && _journal is not null;
        if (batch.Count == 0 && _dirtyLedgers.IsEmpty && (!withCheckpoint || batch.Mark == _lastCheckpoint))
        {
            _writeCache.CompleteFlush();
            return;
        }
        using WriteBatch indexBatch = _index.NewBatch();
        var touchedLogs = new HashSet<long>();
        for (int i = 0; i < batch.Count; i++)
        {
            EntryKey key = batch.KeyAt(i);
            Debug.Assert(i == 0 || batch.KeyAt(i - 1).CompareTo(key) < 0, "flush batch not strictly ordered by (ledgerId, entryId)");
            if (!_ledgers.TryGetValue(key.LedgerId, out LedgerState? state) || state.Deleted)
            {
                continue;
            }
            EntryLocation location = _entryLogger.Append(key.LedgerId, key.EntryId, batch.DataAt(i));
            _index.PutLocation(indexBatch, key.LedgerId, key.EntryId, location);
            _entryLogUsage.Add(location.LogId, key.LedgerId, location.RecordBytes);
            touchedLogs.Add(location.LogId);
        }
        _entryLogger.Sync();
        foreach (KeyValuePair<long, byte> dirty in _dirtyLedgers)
        {
            _dirtyLedgers.TryRemove(dirty.Key, out _);
            if (_ledgers.TryGetValue(dirty.Key, out LedgerState? state) && !state.Deleted)
            {
                _index.PutLedger(indexBatch, dirty.Key, state.ToRecord());
            }
        }
        foreach (long logId in touchedLogs)
        {
            _entryLogUsage.Save(indexBatch, logId);
        }
        if (withCheckpoint)
        {
            _index.PutCheckpoint(indexBatch, batch.Mark);
        }
        _index.Write(indexBatch);
        _readCache.Invalidate(batch);
        _writeCache.CompleteFlush();
        if (withCheckpoint)
        {
            _lastCheckpoint = batch.Mark;
            _journal!.DeleteFilesBefore(batch.Mark.FileId);
        }
        _logger.LogDebug("Flushed {EntryCount} entries; checkpoint {Checkpoint}", batch.Count, batch.Mark);
    }

    /// <summary>Removes the ledgers' index records and their share of every entry log. Caller holds the maintenance lock.</summary>
    private void DeleteFromIndex(IReadOnlyList<long> ledgerIds)
    {
        using WriteBatch batch = _index.NewBatch();
        foreach (long ledgerId in ledgerIds)
        {
            _index.DeleteLedger(batch, ledgerId);
        }
        _entryLogUsage.RemoveLedgers(batch, ledgerIds);
        _index.Write(batch);
    }

    private byte[] ReadFromEntryLog(long ledgerId, long entryId)
    {
        // A compaction may move the entry between the index lookup and the file read: look up again then.
        for (int attempt = 0; attempt < 3; attempt++)
        {
            if (!_index.TryGetLocation(ledgerId, entryId, out EntryLocation location))
            {
                throw new NoSuchEntryException(ledgerId, entryId);
            }
            EntryLog? log = _entryLogger.TryAcquire(location.LogId);
            if (log is null)
            {
                continue;
            }
            try
            {
                byte[] data = log.ReadEntry(location, ledgerId, entryId);
                Interlocked.Increment(ref _entryLogReads);
                _readCache.Put(ledgerId, entryId, data);
                ReadAhead(log, ledgerId, entryId, location);
                return data;
            }
            finally
            {
                log.Release();
            }
        }
        throw new NoSuchEntryException(ledgerId, entryId);
    }

    /// <summary>Reads the following entries of the same ledger that sit right after this one in the same log, in one read.</summary>
    private void ReadAhead(EntryLog log, long ledgerId, long entryId, EntryLocation location)
    {
        if (_options.ReadAheadEntries == 0 || _options.ReadCacheMaxBytes == 0 || _options.ReadAheadBytes == 0)
        {
            return;
        }
        var next = ArrayPool<(long EntryId, EntryLocation Location)>.Shared.Rent(_options.ReadAheadEntries);
        byte[]? buffer = null;
        try
        {
            int found = _index.NextLocations(ledgerId, entryId, next.AsSpan(0, _options.ReadAheadEntries));
            long start = location.Offset + location.RecordBytes;
            long end = start;
            int count = 0;
            while (count < found && next[count].Location.LogId == log.Id && next[count].Location.Offset == end
                   && end + next[count].Location.RecordBytes - start <= _options.ReadAheadBytes)
            {
                end += next[count].Location.RecordBytes;
                count++;
            }
            if (count == 0)
            {
                return;
            }
            buffer = ArrayPool<byte>.Shared.Rent((int)(end - start));
            log.ReadExactly(start, buffer.AsSpan(0, (int)(end - start)));
            int offset = 0;
            for (int i = 0; i < count; i++)
            {
                EntryLocation ahead = next[i].Location;
                ReadOnlySpan<byte> data = log.Verify(buffer.AsSpan(offset, ahead.RecordBytes), ahead.Offset, ledgerId, next[i].EntryId);
                _readCache.Put(ledgerId, next[i].EntryId, data);
                offset += ahead.RecordBytes;
            }
        }
        catch (CorruptDataException e)
        {
            _logger.LogDebug(e, "Read-ahead stopped at a corrupt entry of ledger {LedgerId}", ledgerId);
        }
        finally
        {
            ArrayPool<(long, EntryLocation)>.Shared.Return(next);
            if (buffer is not null)
            {
                ArrayPool<byte>.Shared.Return(buffer);
            }
        }
    }

    private void ReplayRecord(JournalRecordKind kind, long ledgerId, long entryId, ReadOnlySpan<byte> payload)
    {
        switch (kind)
        {
            case JournalRecordKind.Entry:
            {
                Debug.Assert(payload.Length > 8, "JournalReplayer refuses entry records without LAC and data");
                long lac = System.Buffers.Binary.BinaryPrimitives.ReadInt64BigEndian(payload);
                LedgerState state = GetOrCreate(ledgerId);
                lock (state)
                {
                    state.Lac = Math.Max(state.Lac, lac);
                    state.LastEntryId = Math.Max(state.LastEntryId, entryId);
                }
                _dirtyLedgers.TryAdd(ledgerId, 0);
                ReadOnlySpan<byte> data = payload[8..];
                if (data.Length > _options.WriteCacheMaxBytes / 2)
                {
                    // Written under a larger MaxEntryBytes than today's: too big for the cache, so straight to disk.
                    StoreDirectly(ledgerId, entryId, data);
                    break;
                }
                while (!_writeCache.TryAdd(ledgerId, entryId, data, out _))
                {
                    FlushCore(checkpoint: false);
                }
                break;
            }
            case JournalRecordKind.Fence:
            {
                LedgerState state = GetOrCreate(ledgerId);
                lock (state)
                {
                    state.Fenced = true;
                    state.FenceDurable = true;
                }
                _dirtyLedgers.TryAdd(ledgerId, 0);
                break;
            }
            case JournalRecordKind.MasterKey:
            {
                LedgerState state = GetOrCreate(ledgerId);
                lock (state)
                {
                    state.MasterKey ??= payload.ToArray();
                    state.MasterKeyDurable = true;
                }
                _dirtyLedgers.TryAdd(ledgerId, 0);
                break;
            }
            case JournalRecordKind.Delete:
                if (_ledgers.TryRemove(ledgerId, out LedgerState? deleted))
                {
                    deleted.Deleted = true;
                    _dirtyLedgers.TryRemove(ledgerId, out _);
                    DeleteFromIndex([ledgerId]);
                }
                break;
            default:
                // JournalReplayer refuses unknown kinds with the file and offset before they get here.
                throw new CorruptDataException($"journal record of unknown kind {(byte)kind} for ledger {ledgerId}");
        }
    }

    /// <summary>Stores one entry in the entry log and index, bypassing the write cache (replay of oversize entries).</summary>
    private void StoreDirectly(long ledgerId, long entryId, ReadOnlySpan<byte> data)
    {
        EntryLocation location = _entryLogger.Append(ledgerId, entryId, data);
        _entryLogger.Sync();
        _entryLogUsage.Add(location.LogId, ledgerId, location.RecordBytes);
        using WriteBatch batch = _index.NewBatch();
        _index.PutLocation(batch, ledgerId, entryId, location);
        _entryLogUsage.Save(batch, location.LogId);
        _index.Write(batch);
        _readCache.Invalidate(ledgerId, entryId);
    }

    private LedgerState GetOrCreate(long ledgerId)
    {
        while (true)
        {
            if (_ledgers.TryGetValue(ledgerId, out LedgerState? state))
            {
                if (!state.Deleted)
                {
                    return state;
                }
                _ledgers.TryRemove(new KeyValuePair<long, LedgerState>(ledgerId, state));
                continue;
            }
            var created = new LedgerState(ledgerId);
            if (_ledgers.TryAdd(ledgerId, created))
            {
                return created;
            }
        }
    }

    private LedgerState GetOrCreateAuthorized(long ledgerId, ReadOnlyMemory<byte> masterKey, out bool journalKey)
    {
        LedgerState state = GetOrCreate(ledgerId);
        lock (state)
        {
            if (state.MasterKey is null)
            {
                state.MasterKey = masterKey.ToArray();
                _dirtyLedgers.TryAdd(ledgerId, 0);
            }
            else if (!masterKey.Span.SequenceEqual(state.MasterKey))
            {
                throw new UnauthorizedException($"wrong master key for ledger {ledgerId}");
            }
            journalKey = !state.MasterKeyDurable;
        }
        return state;
    }

    private static void ValidateIds(long ledgerId, long entryId)
    {
        if (ledgerId < 0 || entryId < 0)
        {
            throw new BadRequestException($"negative id {ledgerId}:{entryId}");
        }
    }

    private static void ValidateMasterKey(ReadOnlyMemory<byte> masterKey)
    {
        if (masterKey.Length > MaxMasterKeyBytes)
        {
            throw new BadRequestException($"master key of {masterKey.Length} bytes, the maximum is {MaxMasterKeyBytes}");
        }
    }

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);
}
