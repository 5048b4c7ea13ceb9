using Microsoft.Extensions.Logging;
using Pulsarish.Broker.Errors;
using Pulsarish.Broker.Topics;
using Pulsarish.Protocol.Errors;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Dispatch;

/// <summary>
/// A named durable subscription of a topic: a <see cref="ManagedCursor"/>, its consumers, and the dispatcher that
/// pushes entries to them. One dispatch loop per subscription reads from the cursor's read position (tail cache or
/// bookies) and hands each entry to the consumer its type selects (Exclusive/Failover: the active consumer; Shared:
/// round-robin by permits; Key_Shared: by key hash), spending permits. Entries to redeliver (negative acks, ack
/// timeouts, consumers that left, failover switches) are replayed before new ones. Thread-safe: one lock guards the
/// consumers and pending state; the loop never holds it across an await.
/// </summary>
public sealed class Subscription
{
    /// <summary>Bound of entries parked for redelivery before the dispatcher stops reading new ones.</summary>
    public const int MaxReplayEntries = 10_000;

    private enum DeliverResult { Delivered, Blocked }

    private static long s_nextConsumerId;

    private readonly object _lock = new();
    private readonly ManagedLedger _ml;
    private readonly BrokerOptions _options;
    private readonly ILogger _logger;
    private readonly int _partitionIndex;
    private readonly List<Consumer> _consumers = new();
    private readonly SortedSet<Position> _replay = new();
    private readonly Dictionary<Position, int> _redeliveryCounts = new();
    // Key of each entry parked by Key_Shared, so a replay pass only picks entries whose consumer has permits.
    private readonly Dictionary<Position, string> _parkedKeys = new();
    private readonly SemaphoreSlim _signal = new(0, 1);
    private readonly CancellationTokenSource _stop = new();
    private IConsumerSelector _selector;
    private SubscriptionType _type;
    private Task _loop = Task.CompletedTask;
    private long _epoch;
    private bool _closed;
    private bool _wasAtUnackedLimit;
    private bool _sinkRefused;
    private long _messagesOut;
    private long _bytesOut;
    private long _messagesRedelivered;

    internal Subscription(string topic, ManagedCursor cursor, ManagedLedger ml, SubscriptionType type, int partitionIndex,
        BrokerOptions options, ILogger logger)
    {
        Topic = topic;
        Cursor = cursor;
        _ml = ml;
        _type = type;
        _partitionIndex = partitionIndex;
        _options = options;
        _logger = logger;
        _selector = CreateSelector(type);
    }

    public string Topic { get; }
    public string Name => Cursor.Name;
    public ManagedCursor Cursor { get; }

    /// <summary>Type of the connected consumers (the last one used when none is connected).</summary>
    public SubscriptionType Type { get { lock (_lock) { return _type; } } }

    public int ConsumerCount { get { lock (_lock) { return _consumers.Count; } } }

    internal T Read<T>(Consumer consumer, Func<Consumer, T> read)
    {
        lock (_lock)
        {
            return read(consumer);
        }
    }

    private IConsumerSelector CreateSelector(SubscriptionType type) => type switch
    {
        SubscriptionType.Shared => new RoundRobinConsumerSelector(),
        SubscriptionType.KeyShared => new KeyHashConsumerSelector(_options.KeySharedReplicaPoints),
        _ => new SingleActiveConsumerSelector(_partitionIndex),
    };

    internal void Start() => _loop = Task.Run(DispatchLoopAsync);

    /// <summary>Wakes the dispatcher (new entries, permits, redeliveries).</summary>
    public void Signal()
    {
        if (_signal.CurrentCount == 0)
        {
            try
            {
                _signal.Release();
            }
            catch (SemaphoreFullException)
            {
            }
        }
    }

    // ---- consumers ----

    internal Consumer AddConsumer(SubscribeOptions options, IConsumerSink sink)
    {
        Consumer consumer;
        lock (_lock)
        {
            if (_closed)
            {
                throw new ServiceNotReadyException($"subscription {Name} of {Topic} is closed");
            }
            if (_consumers.Count > 0)
            {
                if (options.Type != _type)
                {
                    throw new SubscriptionBusyException($"subscription {Name} of {Topic} is {_type}, not {options.Type}");
                }
                if (_type == SubscriptionType.Exclusive)
                {
                    throw new SubscriptionBusyException($"exclusive subscription {Name} of {Topic} already has a consumer");
                }
            }
            else if (options.Type != _type)
            {
                _type = options.Type;
                _selector = CreateSelector(_type);
            }
            long id = Interlocked.Increment(ref s_nextConsumerId);
            string name = string.IsNullOrEmpty(options.ConsumerName) ? $"consumer-{id}" : options.ConsumerName;
            consumer = new Consumer(this, id, name, options.PriorityLevel, sink, options.AckTimeout, options.Type,
                _options.MaxUnackedEntriesPerConsumer);
            if (_type == SubscriptionType.KeyShared && _consumers.Count > 0)
            {
                consumer.JoinedAtReadPosition = Cursor.ReadPosition;
            }
            _consumers.Add(consumer);
            ConsumersChangedLocked();
        }
        _logger.LogInformation("Consumer {Consumer} joined {Subscription} ({Type}) of {Topic}", consumer, Name, options.Type, Topic);
        Signal();
        return consumer;
    }

    internal void RemoveConsumer(Consumer consumer, Exception? reason)
    {
        lock (_lock)
        {
            if (!_consumers.Remove(consumer))
            {
                return;
            }
            consumer.IsClosed = true;
            foreach (var position in consumer.Pending.Keys)
            {
                ScheduleRedeliveryLocked(position, countIt: true);
            }
            consumer.Pending.Clear();
            consumer.Permits = 0;
            ConsumersChangedLocked();
        }
        if (reason is not null)
        {
            consumer.Sink.Disconnected(reason);
        }
        _logger.LogInformation("Consumer {Consumer} left {Subscription} of {Topic}", consumer, Name, Topic);
        Signal();
    }

    private void ConsumersChangedLocked()
    {
        var snapshot = _consumers.ToArray();
        var previous = (_selector as SingleActiveConsumerSelector)?.Active;
        _selector.ConsumersChanged(snapshot);
        if (_selector is not SingleActiveConsumerSelector single)
        {
            return;
        }
        var active = single.Active;
        if (previous is not null && !ReferenceEquals(previous, active))
        {
            // The new active consumer starts where the old one was: its unacknowledged entries are replayed.
            foreach (var position in previous.Pending.Keys)
            {
                ScheduleRedeliveryLocked(position, countIt: false);
            }
            previous.Pending.Clear();
        }
        foreach (var c in snapshot)
        {
            bool isActive = ReferenceEquals(c, active);
            c.IsActiveFlag = isActive;
            if (_type == SubscriptionType.Failover && c.LastNotifiedActive != isActive)
            {
                c.LastNotifiedActive = isActive;
                c.Sink.ActiveConsumerChanged(isActive);
            }
        }
    }

    internal void Flow(Consumer consumer, int permits)
    {
        if (permits <= 0)
        {
            return;
        }
        lock (_lock)
        {
            if (consumer.IsClosed)
            {
                return;
            }
            consumer.Permits = (int)Math.Min(int.MaxValue, (long)consumer.Permits + permits);
        }
        Signal();
    }

    private void ScheduleRedeliveryLocked(Position position, bool countIt)
    {
        _replay.Add(position);
        if (countIt)
        {
            _redeliveryCounts[position] = _redeliveryCounts.GetValueOrDefault(position) + 1;
        }
        _messagesRedelivered++;
    }

    // ---- acknowledgements ----

    private void Validate(MessageId id)
    {
        if (id.LedgerId < 0 || id.EntryId < 0)
        {
            // A negative id is below every mark-delete position and would otherwise count as already acknowledged.
            throw new InvalidMessageIdException($"negative message id {id}");
        }
        if (id.BatchIndex < -1 || id.BatchSize < 0 || (id.BatchIndex >= 0 && id.BatchSize > 0 && id.BatchIndex >= id.BatchSize))
        {
            throw new InvalidMessageIdException($"invalid batch index {id.BatchIndex} of {id.BatchSize} in {id}");
        }
        var position = id.Position;
        if (!_ml.IsValidEntry(position) && !Cursor.IsAcknowledged(position))
        {
            throw new InvalidMessageIdException($"message {id} does not exist in {Topic}");
        }
    }

    internal void Acknowledge(Consumer consumer, AckType type, IReadOnlyList<MessageId> ids)
    {
        if (ids.Count == 0)
        {
            return;
        }
        if (type == AckType.Cumulative)
        {
            if (Type is SubscriptionType.Shared or SubscriptionType.KeyShared)
            {
                throw new NotAllowedException($"cumulative acknowledgement is not allowed on {Type} subscription {Name}");
            }
            var last = ids[0];
            for (int i = 1; i < ids.Count; i++)
            {
                if (ids[i].Position > last.Position)
                {
                    last = ids[i];
                }
            }
            Validate(last);
            AcknowledgeCumulative(last);
            SignalIfParked();
            return;
        }
        for (int i = 0; i < ids.Count; i++)
        {
            Validate(ids[i]);
        }
        lock (_lock)
        {
            for (int i = 0; i < ids.Count; i++)
            {
                var id = ids[i];
                var position = id.Position;
                int batchSize = PendingBatchSizeLocked(position) ?? id.BatchSize;
                bool entryDone;
                if (id.BatchIndex >= 0 && batchSize > 1)
                {
                    if (id.BatchIndex >= batchSize)
                    {
                        throw new InvalidMessageIdException($"batch index {id.BatchIndex} beyond the {batchSize} messages of {position}");
                    }
                    entryDone = Cursor.AcknowledgeBatchIndex(position, id.BatchIndex, batchSize) || Cursor.IsAcknowledged(position);
                }
                else
                {
                    Cursor.AcknowledgeIndividual(position);
                    entryDone = true;
                }
                if (entryDone)
                {
                    ForgetLocked(position);
                }
            }
        }
        SignalIfParked();
    }

    /// <summary>After acks: wake the dispatcher when entries are parked or a consumer sat at its unacked bound.</summary>
    private void SignalIfParked()
    {
        bool wake;
        lock (_lock)
        {
            wake = _replay.Count > 0 || _wasAtUnackedLimit;
            _wasAtUnackedLimit = false;
        }
        if (wake)
        {
            Signal();
        }
    }

    private void AcknowledgeCumulative(MessageId id)
    {
        lock (_lock)
        {
            var position = id.Position;
            int batchSize = PendingBatchSizeLocked(position) ?? id.BatchSize;
            Position upTo = position;
            if (id.BatchIndex >= 0 && batchSize > 1 && id.BatchIndex < batchSize - 1)
            {
                upTo = new Position(position.LedgerId, position.EntryId - 1);
                for (int i = 0; i <= id.BatchIndex; i++)
                {
                    Cursor.AcknowledgeBatchIndex(position, i, batchSize);
                }
            }
            Cursor.MarkDelete(upTo);
            foreach (var c in _consumers)
            {
                if (c.Pending.Count == 0)
                {
                    continue;
                }
                List<Position>? done = null;
                foreach (var p in c.Pending.Keys)
                {
                    if (p <= upTo)
                    {
                        (done ??= new()).Add(p);
                    }
                }
                if (done is not null)
                {
                    foreach (var p in done)
                    {
                        c.Pending.Remove(p);
                    }
                }
            }
            while (_replay.Count > 0 && _replay.Min <= upTo)
            {
                _redeliveryCounts.Remove(_replay.Min);
                RemoveReplayLocked(_replay.Min);
            }
        }
    }

    private int? PendingBatchSizeLocked(Position position)
    {
        foreach (var c in _consumers)
        {
            if (c.Pending.TryGetValue(position, out var pending))
            {
                return pending.BatchSize;
            }
        }
        return null;
    }

    private void ForgetLocked(Position position)
    {
        foreach (var c in _consumers)
        {
            c.Pending.Remove(position);
        }
        RemoveReplayLocked(position);
        _redeliveryCounts.Remove(position);
    }

    internal void NegativeAcknowledge(Consumer consumer, IReadOnlyList<MessageId> ids)
    {
        bool any = false;
        lock (_lock)
        {
            for (int i = 0; i < ids.Count; i++)
            {
                var position = ids[i].Position;
                if (consumer.Pending.Remove(position))
                {
                    ScheduleRedeliveryLocked(position, countIt: true);
                    any = true;
                }
            }
        }
        if (any)
        {
            Signal();
        }
    }

    internal void RedeliverUnacknowledged(Consumer consumer)
    {
        lock (_lock)
        {
            foreach (var position in consumer.Pending.Keys)
            {
                ScheduleRedeliveryLocked(position, countIt: true);
            }
            consumer.Pending.Clear();
        }
        Signal();
    }

    /// <summary>
    /// Periodic tick: redelivers entries pending longer than their consumer's ack timeout, and retries dispatch when a
    /// sink refused a message (it was full).
    /// </summary>
    public void CheckAckTimeouts()
    {
        long now = Environment.TickCount64;
        bool any = false;
        lock (_lock)
        {
            if (_sinkRefused)
            {
                _sinkRefused = false;
                any = true;
            }
            foreach (var c in _consumers)
            {
                if (c.AckTimeout is not { } timeout || c.Pending.Count == 0)
                {
                    continue;
                }
                List<Position>? expired = null;
                foreach (var (position, pending) in c.Pending)
                {
                    if (now - pending.DeliveredMillis >= (long)timeout.TotalMilliseconds)
                    {
                        (expired ??= new()).Add(position);
                    }
                }
                if (expired is null)
                {
                    continue;
                }
                foreach (var position in expired)
                {
                    c.Pending.Remove(position);
                    ScheduleRedeliveryLocked(position, countIt: true);
                }
                any = true;
            }
        }
        if (any)
        {
            Signal();
        }
    }

    // ---- seek, expiry ----

    /// <summary>Resets the subscription so that <paramref name="id"/> is the next message delivered.</summary>
    public Task SeekAsync(MessageId id, CancellationToken ct = default)
    {
        var target = id.Position;
        var first = _ml.FirstPosition;
        var end = _ml.GetNextValidPosition(_ml.LastConfirmedPosition);
        if (target < first)
        {
            target = first;
        }
        else if (target > end)
        {
            target = end;
        }
        else if (!_ml.IsValidEntry(target) && target != end)
        {
            target = _ml.GetNextValidPosition(new Position(target.LedgerId, target.EntryId - 1));
        }
        ResetTo(target);
        return Task.CompletedTask;
    }

    /// <summary>Resets the subscription to the first entry published at or after <paramref name="publishTimeMillis"/>.</summary>
    public async Task SeekByTimeAsync(long publishTimeMillis, CancellationToken ct = default)
    {
        var target = await FindFirstPublishedAtOrAfterAsync(publishTimeMillis, ct).ConfigureAwait(false);
        ResetTo(target);
    }

    private void ResetTo(Position target)
    {
        lock (_lock)
        {
            _epoch++;
            foreach (var c in _consumers)
            {
                c.Pending.Clear();
            }
            _replay.Clear();
            _parkedKeys.Clear();
            _redeliveryCounts.Clear();
            Cursor.ResetTo(target);
        }
        _logger.LogInformation("Subscription {Subscription} of {Topic} reset to {Position}", Name, Topic, target);
        Signal();
    }

    /// <summary>
    /// Binary search over the stored entries by publish time (entries are in publish-time order): the first entry
    /// published at or after <paramref name="publishTimeMillis"/>, or the end of the log.
    /// </summary>
    internal async Task<Position> FindFirstPublishedAtOrAfterAsync(long publishTimeMillis, CancellationToken ct)
    {
        long lo = 0, hi = _ml.NumberOfEntries;
        while (lo < hi)
        {
            long mid = lo + (hi - lo) / 2;
            var position = _ml.PositionAtIndex(mid);
            if (position is null)
            {
                hi = mid;
                continue;
            }
            var entry = await _ml.ReadEntryAsync(position.Value, ct).ConfigureAwait(false);
            var batch = StoredBatchCodec.Decode(entry.Data);
            if (batch.PublishTimeMillis < publishTimeMillis)
            {
                lo = mid + 1;
            }
            else
            {
                hi = mid;
            }
        }
        return _ml.PositionAtIndex(lo) ?? _ml.GetNextValidPosition(_ml.LastConfirmedPosition);
    }

    /// <summary>
    /// TTL (logical expiry): acknowledges every entry published before now − <paramref name="ttl"/> by moving the
    /// mark-delete position. Returns true when the cursor moved.
    /// </summary>
    public async Task<bool> ExpireMessagesAsync(TimeSpan ttl, CancellationToken ct = default)
    {
        if (ttl <= TimeSpan.Zero || Cursor.Backlog == 0)
        {
            return false;
        }
        long cutoff = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - (long)ttl.TotalMilliseconds;
        var firstLive = await FindFirstPublishedAtOrAfterAsync(cutoff + 1, ct).ConfigureAwait(false);
        var expireUpTo = new Position(firstLive.LedgerId, firstLive.EntryId - 1);
        bool moved;
        lock (_lock)
        {
            if (expireUpTo <= Cursor.MarkDeletePosition)
            {
                return false;
            }
            var lastStored = _ml.LastConfirmedPosition;
            if (expireUpTo > lastStored)
            {
                expireUpTo = lastStored;
            }
            moved = Cursor.MarkDelete(expireUpTo);
            foreach (var c in _consumers)
            {
                List<Position>? done = null;
                foreach (var p in c.Pending.Keys)
                {
                    if (p <= expireUpTo)
                    {
                        (done ??= new()).Add(p);
                    }
                }
                if (done is not null)
                {
                    foreach (var p in done)
                    {
                        c.Pending.Remove(p);
                    }
                }
            }
            while (_replay.Count > 0 && _replay.Min <= expireUpTo)
            {
                _redeliveryCounts.Remove(_replay.Min);
                RemoveReplayLocked(_replay.Min);
            }
        }
        if (moved)
        {
            _logger.LogInformation("TTL expired messages of {Subscription} on {Topic} up to {Position}", Name, Topic, expireUpTo);
        }
        return moved;
    }

    /// <summary>Acknowledges the next <paramref name="count"/> unacknowledged entries (admin skip).</summary>
    public long Skip(long count)
    {
        lock (_lock)
        {
            return Cursor.Skip(count);
        }
    }

    /// <summary>
    /// Acknowledges the next <paramref name="count"/> unacknowledged messages (Pulsar's skip counts messages, not
    /// entries): each entry is read to count its batch, and when the count ends inside a batch only the first
    /// unacknowledged indexes of it are acknowledged. Returns the messages skipped (fewer at the end of the topic).
    /// </summary>
    public async Task<long> SkipMessagesAsync(long count, CancellationToken ct = default)
    {
        long skipped = 0;
        var position = Cursor.MarkDeletePosition;
        while (skipped < count)
        {
            var next = _ml.GetNextValidPosition(position);
            if (next > _ml.LastConfirmedPosition)
            {
                break;
            }
            position = next;
            if (Cursor.IsAcknowledged(position))
            {
                continue;
            }
            var entry = await _ml.ReadEntryAsync(position, ct).ConfigureAwait(false);
            int batchSize = Math.Max(1, StoredBatchCodec.Decode(entry.Data).Messages.Count);
            lock (_lock)
            {
                if (batchSize == 1)
                {
                    Cursor.AcknowledgeIndividual(position);
                    skipped++;
                    ForgetLocked(position);
                    continue;
                }
                bool entryDone = false;
                for (int i = 0; i < batchSize && skipped < count; i++)
                {
                    if (!Cursor.IsBatchIndexAcknowledged(position, i))
                    {
                        entryDone = Cursor.AcknowledgeBatchIndex(position, i, batchSize);
                        skipped++;
                    }
                }
                if (entryDone || Cursor.IsAcknowledged(position))
                {
                    ForgetLocked(position);
                }
            }
        }
        SignalIfParked();
        return skipped;
    }

    // ---- dispatch ----

    private async Task DispatchLoopAsync()
    {
        var ct = _stop.Token;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await _signal.WaitAsync(ct).ConfigureAwait(false);
                while (!ct.IsCancellationRequested && await DispatchOnceAsync(ct).ConfigureAwait(false))
                {
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception ex)
            {
                _logger.LogWarning(ex, "Dispatch of {Subscription} on {Topic} failed; retrying", Name, Topic);
                try
                {
                    await Task.Delay(100, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    return;
                }
                Signal();
            }
        }
    }

    private int TotalPermitsLocked()
    {
        long total = 0;
        foreach (var c in _consumers)
        {
            if (c.CanReceive)
            {
                total += c.Permits;
            }
        }
        return (int)Math.Min(int.MaxValue, total);
    }

    /// <summary>One dispatch step: replay first, then new entries. True when something was delivered or skipped.</summary>
    private async Task<bool> DispatchOnceAsync(CancellationToken ct)
    {
        long epoch;
        int maxEntries;
        List<Position>? replay = null;
        lock (_lock)
        {
            if (_closed || _consumers.Count == 0)
            {
                return false;
            }
            int permits = TotalPermitsLocked();
            if (permits <= 0)
            {
                return false;
            }
            epoch = _epoch;
            maxEntries = Math.Max(1, Math.Min(_options.DispatcherMaxReadBatchSize, permits));
            if (_replay.Count > 0)
            {
                replay = new List<Position>(Math.Min(_replay.Count, maxEntries));
                var keyed = _selector as KeyHashConsumerSelector;
                foreach (var p in _replay)
                {
                    if (replay.Count >= maxEntries)
                    {
                        break;
                    }
                    if (keyed is not null && _parkedKeys.TryGetValue(p, out string? key)
                        && (keyed.Owner(key) is not { CanReceive: true } owner || !MayReceiveLocked(owner, p)))
                    {
                        continue;
                    }
                    replay.Add(p);
                }
                if (replay.Count == 0)
                {
                    replay = null;
                }
            }
        }
        if (replay is not null)
        {
            bool progress = await ReplayAsync(replay, epoch, ct).ConfigureAwait(false);
            if (progress || !_selector.ParksBlockedEntries)
            {
                return progress;
            }
        }
        Position readPosition;
        lock (_lock)
        {
            if (_closed || _replay.Count >= MaxReplayEntries)
            {
                return false;
            }
            epoch = _epoch;
            readPosition = Cursor.FirstUnackedAtOrAfter(Cursor.ReadPosition);
        }
        var entries = await _ml.ReadEntriesAsync(readPosition, maxEntries, ct).ConfigureAwait(false);
        if (entries.Count == 0)
        {
            return false;
        }
        lock (_lock)
        {
            if (epoch != _epoch)
            {
                return true;
            }
            Position? handled = null;
            foreach (var entry in entries)
            {
                var position = entry.Position;
                if (Cursor.IsAcknowledged(position) || _replay.Contains(position) || IsPendingLocked(position))
                {
                    handled = position;
                    continue;
                }
                var result = TryDeliverLocked(entry, out string key);
                if (result == DeliverResult.Delivered)
                {
                    handled = position;
                }
                else if (_selector.ParksBlockedEntries && _replay.Count < MaxReplayEntries)
                {
                    // Key_Shared: the key's consumer has no permits; park the entry (replayed first, so per-key order holds).
                    _replay.Add(position);
                    _parkedKeys[position] = key;
                    handled = position;
                }
                else
                {
                    break;
                }
            }
            if (handled is { } last)
            {
                Cursor.ReadPosition = _ml.GetNextValidPosition(last);
                return true;
            }
            return false;
        }
    }

    private async Task<bool> ReplayAsync(List<Position> replay, long epoch, CancellationToken ct)
    {
        var entries = new List<Entry>(replay.Count);
        bool progress = false;
        foreach (var position in replay)
        {
            try
            {
                entries.Add(await _ml.ReadEntryAsync(position, ct).ConfigureAwait(false));
            }
            catch (InvalidMessageIdException)
            {
                // Gone (trimmed by retention or TTL): nothing to redeliver.
                lock (_lock)
                {
                    RemoveReplayLocked(position);
                    _redeliveryCounts.Remove(position);
                }
                progress = true;
            }
        }
        lock (_lock)
        {
            if (epoch != _epoch)
            {
                return true;
            }
            foreach (var entry in entries)
            {
                var position = entry.Position;
                if (!_replay.Contains(position))
                {
                    continue;
                }
                if (Cursor.IsAcknowledged(position) || IsPendingLocked(position))
                {
                    RemoveReplayLocked(position);
                    _redeliveryCounts.Remove(position);
                    progress = true;
                    continue;
                }
                if (TryDeliverLocked(entry, out string key) == DeliverResult.Delivered)
                {
                    RemoveReplayLocked(position);
                    progress = true;
                }
                else if (_selector.ParksBlockedEntries)
                {
                    _parkedKeys[position] = key;
                }
                else
                {
                    break;
                }
            }
        }
        return progress;
    }

    /// <summary>Key_Shared ordering on join: a recently joined consumer waits until everything before its join position is acknowledged.</summary>
    private bool MayReceiveLocked(Consumer consumer, Position position)
    {
        if (consumer.JoinedAtReadPosition is not { } joined)
        {
            return true;
        }
        if (_ml.GetNextValidPosition(Cursor.MarkDeletePosition) >= joined)
        {
            consumer.JoinedAtReadPosition = null;
            return true;
        }
        return position < joined;
    }

    private void RemoveReplayLocked(Position position)
    {
        _replay.Remove(position);
        _parkedKeys.Remove(position);
    }

    private bool IsPendingLocked(Position position)
    {
        foreach (var c in _consumers)
        {
            if (c.Pending.ContainsKey(position))
            {
                return true;
            }
        }
        return false;
    }

    private DeliverResult TryDeliverLocked(Entry entry, out string key)
    {
        key = "";
        StoredBatch batch;
        try
        {
            batch = StoredBatchCodec.Decode(entry.Data);
        }
        catch (CorruptDataException ex)
        {
            _logger.LogError("Skipping undecodable entry {Position} of {Topic}: {Error}", entry.Position, Topic, ex.Message);
            Cursor.AcknowledgeIndividual(entry.Position);
            return DeliverResult.Delivered;
        }
        int count = batch.Messages.Count;
        if (count == 0)
        {
            Cursor.AcknowledgeIndividual(entry.Position);
            return DeliverResult.Delivered;
        }
        key = batch.Messages[0].HasKey ? batch.Messages[0].Key : "";
        var consumer = _selector.Select(key, entry.Position);
        if (consumer is null || !MayReceiveLocked(consumer, entry.Position))
        {
            return DeliverResult.Blocked;
        }
        var position = entry.Position;
        int redeliveries = _redeliveryCounts.GetValueOrDefault(position);
        int sent = 0;
        for (int i = 0; i < count; i++)
        {
            if (count > 1 && Cursor.IsBatchIndexAcknowledged(position, i))
            {
                continue;
            }
            var message = new DeliveredMessage(new MessageId(position.LedgerId, position.EntryId, i, _partitionIndex, count),
                batch.Messages[i], batch.ProducerName, batch.SequenceId + i, batch.PublishTimeMillis, redeliveries);
            if (!consumer.Sink.TrySend(message))
            {
                if (sent == 0)
                {
                    // The sink is full (or closing): nothing of the entry went out; retry on the next tick.
                    _sinkRefused = true;
                    return DeliverResult.Blocked;
                }
                _logger.LogDebug("Sink of {Consumer} refused part of {Position}; it stays pending until redelivered", consumer, position);
            }
            sent++;
        }
        consumer.Permits -= sent;
        consumer.Pending[position] = new PendingAck(count, Environment.TickCount64);
        if (consumer.Pending.Count >= consumer.MaxUnackedEntries)
        {
            _wasAtUnackedLimit = true;
        }
        consumer.MessagesOut += sent;
        _messagesOut += sent;
        _bytesOut += entry.Data.Length;
        return DeliverResult.Delivered;
    }

    // ---- lifecycle, stats ----

    /// <summary>
    /// Stops dispatching and disconnects the consumers with <paramref name="reason"/>; with <paramref name="flush"/>
    /// the cursor's final state is persisted (orderly unload), without it not (fenced: another owner has it).
    /// </summary>
    internal async Task CloseAsync(Exception reason, bool flush)
    {
        Consumer[] consumers;
        lock (_lock)
        {
            if (_closed)
            {
                return;
            }
            _closed = true;
            consumers = _consumers.ToArray();
            _consumers.Clear();
            foreach (var c in consumers)
            {
                c.IsClosed = true;
            }
        }
        foreach (var c in consumers)
        {
            c.Sink.Disconnected(reason);
        }
        _stop.Cancel();
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
        try
        {
            if (flush)
            {
                await Cursor.CloseAsync().ConfigureAwait(false);
            }
            else
            {
                await Cursor.AbandonAsync().ConfigureAwait(false);
            }
        }
        catch (Exception ex)
        {
            _logger.LogWarning(ex, "Closing cursor {Subscription} on {Topic} failed", Name, Topic);
        }
    }

    public SubscriptionStats GetStats()
    {
        lock (_lock)
        {
            var consumers = new List<ConsumerStats>(_consumers.Count);
            foreach (var c in _consumers)
            {
                consumers.Add(new ConsumerStats(c.Name, c.ConsumerId, c.Permits, c.Pending.Count, c.MessagesOut, c.IsActiveFlag));
            }
            return new SubscriptionStats(Name, _type, Cursor.Backlog, _messagesOut, _bytesOut, _messagesRedelivered,
                _replay.Count, Cursor.MarkDeletePosition.ToString(), Cursor.ReadPosition.ToString(),
                Cursor.IndividuallyDeletedCount, Cursor.CursorLedgerId, consumers);
        }
    }
}
