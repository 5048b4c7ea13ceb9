using Microsoft.Extensions.Logging;
using Pulsarish.Broker.Errors;
using Pulsarish.Broker.Topics;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Dispatch;

/// <summary>
/// A named durable subscription of a topic: a <see cref="ManagedCursor"/>, its consumers, their acknowledgements
/// (individual, cumulative, batch index), seek and reset, and the <see cref="Dispatcher"/> of its type that pushes
/// entries to the consumers (<see cref="SingleActiveConsumerDispatcher"/> for Exclusive and Failover,
/// <see cref="SharedDispatcher"/>, <see cref="KeySharedDispatcher"/>). Entries to redeliver (negative acks, ack
/// timeouts, consumers that left, failover switches) are kept by its <see cref="RedeliveryTracker"/>. Thread-safe: one
/// lock guards the consumers, their pending entries and the tracker; the dispatcher never holds it across an await.
/// </summary>
public sealed class Subscription
{
    /// <summary>Bound of entries parked for redelivery before the dispatcher stops reading new ones.</summary>
    public const int MaxReplayEntries = RedeliveryTracker.MaxEntries;

    private static long s_nextConsumerId;

    private readonly object _lock = new();
    private readonly List<Consumer> _consumers = new();
    private readonly RedeliveryTracker _redelivery = new();
    private Dispatcher _dispatcher;
    private SubscriptionType _type;
    private bool _closed;
    private long _messagesOut;
    private long _bytesOut;

    internal Subscription(string topic, ManagedCursor cursor, ManagedLedger ml, SubscriptionType type, int partitionIndex,
        BrokerOptions options, ILogger logger)
    {
        Topic = topic;
        Cursor = cursor;
        Ledger = ml;
        _type = type;
        PartitionIndex = partitionIndex;
        Options = options;
        Logger = logger;
        _dispatcher = CreateDispatcher(type);
    }

    public string Topic { get; }
    public string Name => Cursor.Name;

    /// <summary>
    /// Raised (outside the lock) when the last consumer of a non-durable subscription left: it is closed and its
    /// topic forgets it (a reader's subscription lives as long as the reader).
    /// </summary>
    internal event Action<Subscription>? Abandoned;
    public ManagedCursor Cursor { get; }

    /// <summary>Type of the connected consumers (the last one used when none is connected).</summary>
    public SubscriptionType Type { get { lock (_lock) { return _type; } } }

    public int ConsumerCount { get { lock (_lock) { return _consumers.Count; } } }

    // What the dispatcher shares with its subscription.
    internal object Gate => _lock;
    internal List<Consumer> ConsumerList => _consumers;
    internal RedeliveryTracker Redelivery => _redelivery;
    internal ManagedLedger Ledger { get; }
    internal BrokerOptions Options { get; }
    internal ILogger Logger { get; }
    internal int PartitionIndex { get; }

    internal T Read<T>(Consumer consumer, Func<Consumer, T> read)
    {
        lock (_lock)
        {
            return read(consumer);
        }
    }

    private Dispatcher CreateDispatcher(SubscriptionType type) => type switch
    {
        SubscriptionType.Shared => new SharedDispatcher(this),
        SubscriptionType.KeyShared => new KeySharedDispatcher(this, Options.KeySharedReplicaPoints),
        _ => new SingleActiveConsumerDispatcher(this, type),
    };

    internal void Start() => Volatile.Read(ref _dispatcher).Start();

    /// <summary>Wakes the dispatcher (new entries, permits, redeliveries).</summary>
    public void Signal() => Volatile.Read(ref _dispatcher).Signal();

    /// <summary>The dispatcher counts what it delivered (stats).</summary>
    internal void CountDispatchedLocked(int messages, int bytes)
    {
        _messagesOut += messages;
        _bytesOut += bytes;
    }

    // ---- consumers ----

    internal Consumer AddConsumer(SubscribeOptions options, IConsumerSink sink)
    {
        Consumer consumer;
        Dispatcher? replaced = null;
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
                // No consumer left: the subscription takes the new type's dispatcher; entries to redeliver stay.
                _type = options.Type;
                replaced = _dispatcher;
                replaced.StopLocked();
                Volatile.Write(ref _dispatcher, CreateDispatcher(_type));
                _dispatcher.Start();
            }
            long id = Interlocked.Increment(ref s_nextConsumerId);
            string name = string.IsNullOrEmpty(options.ConsumerName) ? $"consumer-{id}" : options.ConsumerName;
            consumer = new Consumer(this, id, name, options.PriorityLevel, sink, options.AckTimeout, options.Type,
                Options.MaxUnackedEntriesPerConsumer);
            _consumers.Add(consumer);
            _dispatcher.ConsumerAddedLocked(consumer);
        }
        if (replaced is not null)
        {
            _ = replaced.StopLoopAsync();
        }
        Logger.LogInformation("Consumer {Consumer} joined {Subscription} ({Type}) of {Topic}", consumer, Name, options.Type, Topic);
        Signal();
        return consumer;
    }

    internal void RemoveConsumer(Consumer consumer, Exception? reason)
    {
        bool abandoned;
        lock (_lock)
        {
            if (!_consumers.Remove(consumer))
            {
                return;
            }
            abandoned = !Cursor.IsDurable && _consumers.Count == 0 && !_closed;
            consumer.IsClosed = true;
            foreach (var position in consumer.Pending.Keys)
            {
                _redelivery.Schedule(position, countIt: true);
            }
            consumer.Pending.Clear();
            consumer.Permits = 0;
            _dispatcher.ConsumerRemovedLocked(consumer);
        }
        if (reason is not null)
        {
            consumer.Sink.Disconnected(reason);
        }
        Logger.LogInformation("Consumer {Consumer} left {Subscription} of {Topic}", consumer, Name, Topic);
        if (abandoned)
        {
            Abandoned?.Invoke(this);
            return;
        }
        Signal();
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
        if (!Ledger.IsValidEntry(position) && !Cursor.IsAcknowledged(position))
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
            wake = _dispatcher.ShouldWakeAfterAckLocked();
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
            ForgetUpToLocked(upTo);
        }
    }

    /// <summary>Everything up to <paramref name="upTo"/> is acknowledged: no longer pending nor to redeliver.</summary>
    private void ForgetUpToLocked(Position upTo)
    {
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
        _redelivery.ForgetUpTo(upTo);
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
        _redelivery.Forget(position);
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
                    _redelivery.Schedule(position, countIt: true);
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
                _redelivery.Schedule(position, countIt: true);
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
            if (_dispatcher.TakeSinkRefusedLocked())
            {
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
                    _redelivery.Schedule(position, countIt: true);
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

    /// <summary>
    /// Resets the subscription so that <paramref name="id"/> is the next message delivered. Returns the entry
    /// delivered next (past the end: the position of the next entry written).
    /// </summary>
    public Task<Position> SeekAsync(MessageId id, CancellationToken ct = default)
    {
        var target = EntryAtOrAfter(Ledger, id.Position);
        ResetTo(target);
        return Task.FromResult(target);
    }

    /// <summary>
    /// The stored entry at <paramref name="target"/>, else the next stored one; before the first entry the first one;
    /// past the end the position of the next entry written (wire input: any position is accepted).
    /// </summary>
    internal static Position EntryAtOrAfter(ManagedLedger ledger, Position target)
    {
        var first = ledger.FirstPosition;
        var end = ledger.GetNextValidPosition(ledger.LastConfirmedPosition);
        if (target < first)
        {
            return first;
        }
        if (target > end)
        {
            return end;
        }
        if (!ledger.IsValidEntry(target) && target != end)
        {
            // Not a stored entry: the next one; an entry id below 0 stands for the start of its ledger.
            return ledger.GetNextValidPosition(new Position(target.LedgerId, Math.Max(target.EntryId, 0) - 1));
        }
        return target;
    }

    /// <summary>Resets the subscription to the first entry published at or after <paramref name="publishTimeMillis"/>.</summary>
    public async Task<Position> SeekByTimeAsync(long publishTimeMillis, CancellationToken ct = default)
    {
        var target = await FindFirstPublishedAtOrAfterAsync(publishTimeMillis, ct).ConfigureAwait(false);
        ResetTo(target);
        return target;
    }

    private void ResetTo(Position target)
    {
        lock (_lock)
        {
            _dispatcher.ResetLocked();
            foreach (var c in _consumers)
            {
                c.Pending.Clear();
            }
            _redelivery.Clear();
            Cursor.ResetTo(target);
        }
        Logger.LogInformation("Subscription {Subscription} of {Topic} reset to {Position}", Name, Topic, target);
        Signal();
    }

    /// <summary>
    /// Binary search over the stored entries by publish time (entries are in publish-time order): the first entry
    /// published at or after <paramref name="publishTimeMillis"/>, or the end of the log.
    /// </summary>
    internal async Task<Position> FindFirstPublishedAtOrAfterAsync(long publishTimeMillis, CancellationToken ct)
    {
        long lo = 0, hi = Ledger.NumberOfEntries;
        while (lo < hi)
        {
            long mid = lo + (hi - lo) / 2;
            var position = Ledger.PositionAtIndex(mid);
            if (position is null)
            {
                hi = mid;
                continue;
            }
            var entry = await Ledger.ReadEntryAsync(position.Value, ct).ConfigureAwait(false);
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
        return Ledger.PositionAtIndex(lo) ?? Ledger.GetNextValidPosition(Ledger.LastConfirmedPosition);
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
            var lastStored = Ledger.LastConfirmedPosition;
            if (expireUpTo > lastStored)
            {
                expireUpTo = lastStored;
            }
            moved = Cursor.MarkDelete(expireUpTo);
            ForgetUpToLocked(expireUpTo);
        }
        if (moved)
        {
            Logger.LogInformation("TTL expired messages of {Subscription} on {Topic} up to {Position}", Name, Topic, expireUpTo);
        }
        return moved;
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
            var next = Ledger.GetNextValidPosition(position);
            if (next > Ledger.LastConfirmedPosition)
            {
                break;
            }
            position = next;
            if (Cursor.IsAcknowledged(position))
            {
                continue;
            }
            var entry = await Ledger.ReadEntryAsync(position, ct).ConfigureAwait(false);
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

    /// <summary>Acknowledges the next <paramref name="count"/> unacknowledged entries (admin skip).</summary>
    public long Skip(long count)
    {
        lock (_lock)
        {
            return Cursor.Skip(count);
        }
    }

    // ---- lifecycle, stats ----

    /// <summary>
    /// Stops dispatching and disconnects the consumers with <paramref name="reason"/>; with <paramref name="flush"/>
    /// the cursor's final state is persisted (orderly unload), without it not (fenced: another owner has it).
    /// </summary>
    internal async Task CloseAsync(Exception reason, bool flush)
    {
        Consumer[] consumers;
        Dispatcher dispatcher;
        lock (_lock)
        {
            if (_closed)
            {
                return;
            }
            _closed = true;
            dispatcher = _dispatcher;
            dispatcher.StopLocked();
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
        await dispatcher.StopLoopAsync().ConfigureAwait(false);
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
            Logger.LogWarning(ex, "Closing cursor {Subscription} on {Topic} failed", Name, Topic);
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
            return new SubscriptionStats(Name, _type, Cursor.Backlog, _messagesOut, _bytesOut, _redelivery.MessagesRedelivered,
                _redelivery.Count, Cursor.MarkDeletePosition.ToString(), Cursor.ReadPosition.ToString(),
                Cursor.IndividuallyDeletedCount, Cursor.CursorLedgerId, consumers);
        }
    }
}
