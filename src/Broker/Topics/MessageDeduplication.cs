using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Pulsarish.Protocol.Errors;
using Pulsarish.Metadata;
using Pulsarish.Protocol.Broker;
using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Broker.Topics;

/// <summary>
/// Producer de-duplication of a topic (Pulsar's MessageDeduplication): per producer name the highest sequence id
/// pushed and persisted. A send whose last sequence id is ≤ the persisted one is a duplicate and is not written.
/// State survives reloads: a snapshot (CursorInfo at …/&lt;topic&gt;/pulsar.dedup: position + producer → sequence id in
/// its properties) is written every <see cref="BrokerOptions.DeduplicationSnapshotEntriesInterval"/> entries and on
/// close, and on load the entries after the snapshot position are replayed. Thread-safe.
/// </summary>
public sealed class MessageDeduplication
{
    /// <summary>Outcome of <see cref="TryPush"/>.</summary>
    public enum PushResult { Accepted, Duplicate, InFlight }

    private readonly object _lock = new();
    private readonly ManagedLedger _ml;
    private readonly ILogger _logger;
    private readonly string _path;
    private readonly int _snapshotInterval;
    private readonly SemaphoreSlim _snapshotGate = new(1, 1);
    private readonly Dictionary<string, long> _pushed = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _persisted = new(StringComparer.Ordinal);
    private readonly Dictionary<string, long> _lastUsed = new(StringComparer.Ordinal);
    private readonly int _maxProducers;
    private long _useClock;
    private long _version = -1;
    private Position _appliedPosition = Position.Earliest;
    private long _entriesSinceSnapshot;

    public MessageDeduplication(ManagedLedger ml, int snapshotInterval, int maxProducers, ILogger logger)
    {
        _maxProducers = maxProducers;
        _ml = ml;
        _logger = logger;
        _snapshotInterval = snapshotInterval;
        _path = ManagedLedgerPaths.Cursor(ml.Path, ManagedLedgerPaths.DeduplicationCursor);
    }

    /// <summary>Highest persisted sequence id of <paramref name="producerName"/>, -1 when none.</summary>
    public long LastSequenceId(string producerName)
    {
        lock (_lock)
        {
            return _persisted.GetValueOrDefault(producerName, -1);
        }
    }

    /// <summary>Loads the snapshot and replays the entries written after it.</summary>
    public async Task RecoverAsync(CancellationToken ct)
    {
        var stored = await _ml.Store.GetAsync(_path, ct).ConfigureAwait(false);
        Position from = Position.Earliest;
        if (stored is not null)
        {
            CursorInfo info;
            try
            {
                info = CursorInfo.Parser.ParseFrom(stored.Value);
            }
            catch (InvalidProtocolBufferException ex)
            {
                throw new CorruptDataException($"corrupt de-duplication snapshot at {_path}: {ex.Message}");
            }
            _version = stored.Stat.Version;
            from = Position.FromProto(info.MarkDelete);
            foreach (var (producer, sequenceId) in info.Properties)
            {
                _persisted[producer] = sequenceId;
            }
        }
        var last = _ml.LastConfirmedPosition;
        var next = _ml.GetNextValidPosition(from);
        long replayed = 0;
        while (next <= last)
        {
            var entries = await _ml.ReadEntriesAsync(next, 100, ct).ConfigureAwait(false);
            if (entries.Count == 0)
            {
                break;
            }
            foreach (var entry in entries)
            {
                StoredBatch batch;
                try
                {
                    // Decoded (not only parsed) so a legacy broker-compressed batch counts its messages too.
                    batch = StoredBatchCodec.Decode(entry.Data);
                }
                catch (CorruptDataException)
                {
                    continue;
                }
                int count = Math.Max(1, StoredBatchCodec.MessageCount(batch));
                long highest = batch.SequenceId + count - 1;
                if (highest > _persisted.GetValueOrDefault(batch.ProducerName, -1))
                {
                    _persisted[batch.ProducerName] = highest;
                }
                replayed++;
            }
            next = _ml.GetNextValidPosition(entries[^1].Position);
        }
        foreach (var (producer, sequenceId) in _persisted)
        {
            _pushed[producer] = sequenceId;
            TouchLocked(producer);
        }
        _entriesSinceSnapshot = replayed;
        _appliedPosition = last;
        _logger.LogInformation("De-duplication of {Topic}: {Producers} producers, {Replayed} entries replayed after the snapshot",
            _ml.Name.FullName, _persisted.Count, replayed);
    }

    /// <summary>Checks a send covering sequence ids first..last and records it as pushed when accepted.</summary>
    public PushResult TryPush(string producerName, long firstSequenceId, long lastSequenceId)
    {
        lock (_lock)
        {
            if (lastSequenceId <= _persisted.GetValueOrDefault(producerName, -1))
            {
                TouchLocked(producerName);
                return PushResult.Duplicate;
            }
            if (firstSequenceId <= _pushed.GetValueOrDefault(producerName, -1))
            {
                return PushResult.InFlight;
            }
            _pushed[producerName] = lastSequenceId;
            TouchLocked(producerName);
            return PushResult.Accepted;
        }
    }

    /// <summary>
    /// Records a persisted send. Called by the managed ledger strictly in entry order, so after it the map reflects
    /// every entry up to <paramref name="position"/>. Returns true when a snapshot is due.
    /// </summary>
    public bool Persisted(string producerName, long lastSequenceId, Position position)
    {
        lock (_lock)
        {
            if (lastSequenceId > _persisted.GetValueOrDefault(producerName, -1))
            {
                _persisted[producerName] = lastSequenceId;
            }
            _appliedPosition = position;
            _entriesSinceSnapshot++;
            return _entriesSinceSnapshot >= _snapshotInterval;
        }
    }

    private void TouchLocked(string producerName)
    {
        _lastUsed[producerName] = ++_useClock;
        if (_lastUsed.Count <= _maxProducers)
        {
            return;
        }
        // Bounded state: forget the least recently used producer name.
        string? oldest = null;
        long oldestTicks = long.MaxValue;
        foreach (var (name, ticks) in _lastUsed)
        {
            if (ticks < oldestTicks && name != producerName)
            {
                (oldest, oldestTicks) = (name, ticks);
            }
        }
        if (oldest is not null)
        {
            _lastUsed.Remove(oldest);
            _persisted.Remove(oldest);
            _pushed.Remove(oldest);
        }
    }

    /// <summary>An accepted send failed: a retry of the same ids must not look in flight.</summary>
    public void Failed(string producerName)
    {
        lock (_lock)
        {
            _pushed[producerName] = _persisted.GetValueOrDefault(producerName, -1);
        }
    }

    /// <summary>
    /// Writes a snapshot: the persisted map and the position of the last entry it reflects. Returns false when another
    /// snapshot was being written.
    /// </summary>
    public async Task<bool> TakeSnapshotAsync(CancellationToken ct = default)
    {
        if (!await _snapshotGate.WaitAsync(0, ct).ConfigureAwait(false))
        {
            return false;
        }
        try
        {
            var info = new CursorInfo();
            lock (_lock)
            {
                if (_entriesSinceSnapshot == 0)
                {
                    return true;
                }
                info.MarkDelete = _appliedPosition.ToProto();
                foreach (var (producer, sequenceId) in _persisted)
                {
                    info.Properties[producer] = sequenceId;
                }
                _entriesSinceSnapshot = 0;
            }
            var stat = await _ml.Store.PutAsync(_path, info.ToByteArray(), _version < 0 ? null : _version, ct).ConfigureAwait(false);
            _version = stat.Version;
            return true;
        }
        catch (BadVersionException)
        {
            _logger.LogWarning("De-duplication snapshot of {Topic} changed under us (another owner?)", _ml.Name.FullName);
            return false;
        }
        finally
        {
            _snapshotGate.Release();
        }
    }
}
