using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Pulsarish.Broker.Errors;
using Pulsarish.Broker.Topics;
using Pulsarish.Protocol.Broker;
using Pulsarish.Protocol.Errors;

namespace Pulsarish.Broker.Dispatch;

/// <summary>
/// Pushes a subscription's entries to its consumers (as Pulsar's PersistentDispatcher* classes): one loop reads from
/// the cursor's read position (tail cache or bookies) and hands each entry to the consumer that the subclass for the
/// subscription type selects, spending permits. Entries of the <see cref="RedeliveryTracker"/> are replayed before new
/// ones. Everything runs under the subscription's lock, which the loop never holds across an await; the consumers,
/// the cursor and the tracker belong to the <see cref="Dispatch.Subscription"/>.
/// </summary>
internal abstract class Dispatcher
{
    private enum DeliverResult { Delivered, Blocked, Delayed }

    private readonly SemaphoreSlim _signal = new(0, 1);
    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;
    private int _started;
    // Bumped by a reset (seek) and by stopping: a step that awaited meanwhile drops what it read.
    private long _epoch;
    private bool _stopped;
    private bool _wasAtUnackedLimit;
    private bool _sinkRefused;
    private readonly List<Position> _due = new();
    private Timer? _delayedTimer;
    private long _delayedTimerAtMillis = long.MaxValue;
    private long _delayedTimerFiredMillis;
    private bool _rebuildDelayed;

    protected Dispatcher(Subscription subscription) => Subscription = subscription;

    protected Subscription Subscription { get; }

    /// <summary>The subscription's lock.</summary>
    protected object Lock => Subscription.Gate;

    /// <summary>The subscription's consumers in join order (under <see cref="Lock"/>).</summary>
    protected List<Consumer> Consumers => Subscription.ConsumerList;

    protected ManagedCursor Cursor => Subscription.Cursor;

    protected RedeliveryTracker Redelivery => Subscription.Redelivery;

    protected ManagedLedger Ledger => Subscription.Ledger;

    private ILogger Logger => Subscription.Logger;

    /// <summary>
    /// Whether an entry that no consumer can take now is parked in the tracker so later entries (of other keys) pass
    /// (Key_Shared); otherwise dispatch stops at it and keeps the subscription's order.
    /// </summary>
    protected virtual bool ParksBlockedEntries => false;

    /// <summary>
    /// Whether a new entry whose deliver-at time is in the future is held in the subscription's
    /// <see cref="DelayedDeliveryTracker"/> until due (Shared, Key_Shared; Exclusive and Failover deliver at once, as Pulsar).
    /// </summary>
    protected virtual bool DelaysEntries => false;

    /// <summary>The consumer to get an entry with <paramref name="key"/> now, or null when none can take it.</summary>
    protected abstract Consumer? SelectLocked(string key, Position position);

    /// <summary>The consumers changed (joined, left): the subclass updates whom it selects.</summary>
    protected abstract void ConsumersChangedLocked();

    /// <summary>Debug check of the type's delivery rule for an entry given to <paramref name="consumer"/>.</summary>
    protected virtual bool DeliveryRuleHoldsLocked(Consumer consumer, string key, Position position) => true;

    /// <summary>Whether a pass over the entries to redeliver tries <paramref name="position"/> now.</summary>
    protected virtual bool MayReplayNowLocked(Position position) => true;

    /// <summary>Starts the loop once (the topic starts the first dispatcher, a change of type the next ones).</summary>
    internal void Start()
    {
        if (Interlocked.Exchange(ref _started, 1) == 0)
        {
            _loop = Task.Run(DispatchLoopAsync);
        }
    }

    /// <summary>Wakes the loop (new entries, permits, redeliveries).</summary>
    internal void Signal()
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

    /// <summary><paramref name="consumer"/> was added to the subscription's consumers.</summary>
    internal virtual void ConsumerAddedLocked(Consumer consumer) => ConsumersChangedLocked();

    /// <summary><paramref name="consumer"/> was removed from the subscription's consumers.</summary>
    internal void ConsumerRemovedLocked(Consumer consumer)
    {
        Debug.Assert(!Consumers.Contains(consumer));
        ConsumersChangedLocked();
    }

    /// <summary>The cursor was reset (seek): a step in flight drops what it read.</summary>
    internal void ResetLocked() => _epoch++;

    /// <summary>After acks: whether to wake the loop (entries parked, or a consumer sat at its unacked bound).</summary>
    internal bool ShouldWakeAfterAckLocked()
    {
        bool wake = Redelivery.Count > 0 || _wasAtUnackedLimit;
        _wasAtUnackedLimit = false;
        return wake;
    }

    /// <summary>Periodic tick: whether a sink refused a message since the last tick (retry then).</summary>
    internal bool TakeSinkRefusedLocked()
    {
        bool refused = _sinkRefused;
        _sinkRefused = false;
        return refused;
    }

    /// <summary>Stops dispatching (subscription closed, or replaced by the dispatcher of another type).</summary>
    internal void StopLocked()
    {
        _stopped = true;
        _epoch++;
        _delayedTimer?.Dispose();
        _delayedTimer = null;
    }

    /// <summary>Ends the loop after <see cref="StopLocked"/>; call without the lock.</summary>
    internal async Task StopLoopAsync()
    {
        _stop.Cancel();
        try
        {
            await _loop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }
    }

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
                Logger.LogWarning(ex, "Dispatch of {Subscription} on {Topic} failed; retrying", Subscription.Name, Subscription.Topic);
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
        foreach (var c in Consumers)
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
        lock (Lock)
        {
            if (_stopped || Consumers.Count == 0)
            {
                return false;
            }
            int permits = TotalPermitsLocked();
            if (permits <= 0)
            {
                return false;
            }
            epoch = _epoch;
            maxEntries = Math.Max(1, Math.Min(Subscription.Options.DispatcherMaxReadBatchSize, permits));
            MoveDueDelayedLocked(maxEntries);
            if (Redelivery.Count > 0)
            {
                replay = new List<Position>(Math.Min(Redelivery.Count, maxEntries));
                foreach (var p in Redelivery)
                {
                    if (replay.Count >= maxEntries)
                    {
                        break;
                    }
                    // Only entries already dispatched once are redelivered: they lie below the read position.
                    Debug.Assert(p < Cursor.ReadPosition, $"entry {p} to redeliver is not below the read position {Cursor.ReadPosition}");
                    if (MayReplayNowLocked(p))
                    {
                        replay.Add(p);
                    }
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
            if (progress || !ParksBlockedEntries)
            {
                return progress;
            }
        }
        Position readPosition;
        lock (Lock)
        {
            if (_stopped || Redelivery.IsFull)
            {
                return false;
            }
            epoch = _epoch;
            readPosition = Cursor.FirstUnackedAtOrAfter(Cursor.ReadPosition);
        }
        var entries = await Ledger.ReadEntriesAsync(readPosition, maxEntries, ct).ConfigureAwait(false);
        if (entries.Count == 0)
        {
            return false;
        }
        lock (Lock)
        {
            if (epoch != _epoch)
            {
                return true;
            }
            Position? handled = null;
            for (int i = 0; i < entries.Count; i++)
            {
                var entry = entries[i];
                var position = entry.Position;
                Debug.Assert(position >= readPosition && (handled is null || position > handled.Value),
                    "new entries are dispatched in position order from the read position");
                if (Cursor.IsAcknowledged(position) || Redelivery.Contains(position) || IsPendingLocked(position))
                {
                    handled = position;
                    continue;
                }
                var result = TryDeliverLocked(entry, out string key, fresh: true);
                if (_rebuildDelayed)
                {
                    break;
                }
                if (result is DeliverResult.Delivered or DeliverResult.Delayed)
                {
                    handled = position;
                }
                else if (ParksBlockedEntries && !Redelivery.IsFull)
                {
                    // The key's consumer has no permits: park the entry (replayed first, so per-key order holds).
                    Redelivery.Park(position, key);
                    handled = position;
                }
                else
                {
                    break;
                }
            }
            if (_rebuildDelayed)
            {
                _rebuildDelayed = false;
                Cursor.ReadPosition = Ledger.GetNextValidPosition(Cursor.MarkDeletePosition);
                return true;
            }
            if (handled is { } last)
            {
                Cursor.ReadPosition = Ledger.GetNextValidPosition(last);
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
                entries.Add(await Ledger.ReadEntryAsync(position, ct).ConfigureAwait(false));
            }
            catch (InvalidMessageIdException)
            {
                // Gone (trimmed by retention or TTL): nothing to redeliver.
                lock (Lock)
                {
                    Redelivery.Forget(position);
                }
                progress = true;
            }
        }
        lock (Lock)
        {
            if (epoch != _epoch)
            {
                return true;
            }
            foreach (var entry in entries)
            {
                var position = entry.Position;
                if (!Redelivery.Contains(position))
                {
                    continue;
                }
                if (Cursor.IsAcknowledged(position) || IsPendingLocked(position))
                {
                    Redelivery.Forget(position);
                    progress = true;
                    continue;
                }
                if (TryDeliverLocked(entry, out string key, fresh: false) == DeliverResult.Delivered)
                {
                    Redelivery.Delivered(position);
                    progress = true;
                }
                else if (ParksBlockedEntries)
                {
                    Redelivery.SetParkedKey(position, key);
                }
                else
                {
                    break;
                }
            }
        }
        return progress;
    }

    private bool IsPendingLocked(Position position)
    {
        foreach (var c in Consumers)
        {
            if (c.Pending.ContainsKey(position))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// Delivers <paramref name="entry"/> to the consumer the type selects. A <paramref name="fresh"/> entry (read
    /// for the first time) that is not yet due is held in the delayed-delivery tracker instead; a replayed one (due, or
    /// redelivered) goes at once.
    /// </summary>
    private DeliverResult TryDeliverLocked(Entry entry, out string key, bool fresh)
    {
        key = "";
        StoredBatch batch;
        try
        {
            batch = StoredBatchCodec.Decode(entry.Data);
        }
        catch (CorruptDataException ex)
        {
            Logger.LogError("Skipping undecodable entry {Position} of {Topic}: {Error}", entry.Position, Subscription.Topic, ex.Message);
            Cursor.AcknowledgeIndividual(entry.Position);
            return DeliverResult.Delivered;
        }
        int count = StoredBatchCodec.MessageCount(batch);
        if (count == 0)
        {
            Cursor.AcknowledgeIndividual(entry.Position);
            return DeliverResult.Delivered;
        }
        // Key_Shared routes a batch by its first key (Pulsar's batch key); a compressed batch names it in its header.
        key = StoredBatchCodec.RoutingKey(batch);
        var position = entry.Position;
        if (fresh && DelaysEntries && HoldIfDelayedLocked(batch, position))
        {
            return DeliverResult.Delayed;
        }
        var consumer = SelectLocked(key, position);
        if (consumer is null)
        {
            return DeliverResult.Blocked;
        }
        // Flow control: an entry goes only to an attached consumer with permits and below its unacked bound. A batch
        // entry is sent whole, so its messages may take the permits below zero (as Pulsar's); then it gets no more.
        Debug.Assert(!consumer.IsClosed && consumer.CanReceive, $"{consumer} cannot take {position}");
        Debug.Assert(!IsPendingLocked(position), $"{position} is already out to a consumer");
        Debug.Assert(DeliveryRuleHoldsLocked(consumer, key, position), $"{position} must not go to {consumer}");
        int redeliveries = Redelivery.RedeliveryCount(position);
        int partitionIndex = Subscription.PartitionIndex;
        if (batch.Compressed is not null)
        {
            return TryDeliverCompressedLocked(consumer, entry, batch, count, redeliveries);
        }
        int sent = 0;
        for (int i = 0; i < count; i++)
        {
            if (count > 1 && Cursor.IsBatchIndexAcknowledged(position, i))
            {
                continue;
            }
            var message = new DeliveredMessage(new MessageId(position.LedgerId, position.EntryId, i, partitionIndex, count),
                batch.Messages[i], batch.ProducerName, batch.SequenceId + i, batch.PublishTimeMillis, redeliveries);
            if (!consumer.Sink.TrySend(message))
            {
                if (sent == 0)
                {
                    // The sink is full (or closing): nothing of the entry went out; retry on the next tick.
                    _sinkRefused = true;
                    return DeliverResult.Blocked;
                }
                Logger.LogDebug("Sink of {Consumer} refused part of {Position}; it stays pending until redelivered", consumer, position);
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
        Subscription.CountDispatchedLocked(sent, entry.Data.Length);
        return DeliverResult.Delivered;
    }
    // ---- delayed delivery ----

    /// <summary>Holds the entry in the tracker when its deliver-at time (the latest of its messages') is in the future.</summary>
    private bool HoldIfDelayedLocked(StoredBatch batch, Position position)
    {
        long deliverAt = 0;
        var messages = batch.Messages;
        for (int i = 0; i < messages.Count; i++)
        {
            deliverAt = Math.Max(deliverAt, messages[i].DeliverAtMillis);
        }
        if (deliverAt == 0 || deliverAt <= DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() || !Subscription.DelayedDeliveryEnabled())
        {
            return false;
        }
        var tracker = Subscription.DelayedLocked;
        try
        {
            tracker.Add(position, deliverAt);
        }
        catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
        {
            RebuildDelayedLocked(ex);
            return true;
        }
        ArmDelayedTimerLocked(tracker.NextDeliverAtMillis);
        return true;
    }

    /// <summary>
    /// A run file failed: entries may be missing from the index. It is derived data, so it is dropped and rebuilt
    /// from the log: the read position goes back to the first unacknowledged entry (held entries are held again,
    /// pending and acknowledged ones skipped) — DESIGN: the times live in the log, the index only bounds memory.
    /// </summary>
    private void RebuildDelayedLocked(Exception ex)
    {
        Logger.LogError(ex, "Delayed-delivery index of {Subscription} on {Topic} failed; rebuilding it from the mark-delete position",
            Subscription.Name, Subscription.Topic);
        Subscription.DelayedLocked.Clear();
        _rebuildDelayed = true;
    }

    /// <summary>Moves the delayed entries now due into the replay set (within its bound) and re-arms the timer.</summary>
    private void MoveDueDelayedLocked(int maxEntries)
    {
        if (Subscription.DelayedCountLocked == 0)
        {
            return;
        }
        var tracker = Subscription.DelayedLocked;
        int room = RedeliveryTracker.MaxEntries - Redelivery.Count;
        if (room > 0)
        {
            _due.Clear();
            try
            {
                tracker.TakeDue(DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(), Math.Min(room, maxEntries), _due);
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException)
            {
                RebuildDelayedLocked(ex);
                Cursor.ReadPosition = Ledger.GetNextValidPosition(Cursor.MarkDeletePosition);
                _rebuildDelayed = false;
            }
            foreach (var position in _due)
            {
                Redelivery.ScheduleDue(position);
            }
        }
        if (tracker.Count > 0)
        {
            ArmDelayedTimerLocked(tracker.NextDeliverAtMillis);
        }
    }

    /// <summary>
    /// Wakes the loop at <paramref name="nextDueMillis"/>, but at most once per tick (Pulsar's
    /// delayedDeliveryTickTimeMillis): a message may arrive up to a tick late, never early.
    /// </summary>
    private void ArmDelayedTimerLocked(long nextDueMillis)
    {
        if (_stopped || nextDueMillis == long.MaxValue)
        {
            return;
        }
        long tickMillis = (long)Subscription.Options.DelayedDeliveryTick.TotalMilliseconds;
        long fireAt = Math.Max(nextDueMillis, _delayedTimerFiredMillis + tickMillis);
        if (fireAt >= _delayedTimerAtMillis)
        {
            return;
        }
        _delayedTimerAtMillis = fireAt;
        long delayMillis = Math.Max(1, fireAt - DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() + 1);
        _delayedTimer ??= new Timer(static s => ((Dispatcher)s!).OnDelayedTimer(), this, Timeout.Infinite, Timeout.Infinite);
        _delayedTimer.Change(delayMillis, Timeout.Infinite);
    }

    private void OnDelayedTimer()
    {
        lock (Lock)
        {
            _delayedTimerAtMillis = long.MaxValue;
            _delayedTimerFiredMillis = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        }
        Signal();
    }

    /// <summary>
    /// A client-compressed entry goes out whole, as stored, with the indexes acknowledged individually so far; the
    /// consumer decompresses it and skips those (docs/protocol.md §7.5). It takes the permits of its unacked messages.
    /// </summary>
    private DeliverResult TryDeliverCompressedLocked(Consumer consumer, Entry entry, StoredBatch batch, int count,
        int redeliveries)
    {
        var position = entry.Position;
        int[]? acked = null;
        int ackedCount = 0;
        if (count > 1)
        {
            for (int i = 0; i < count; i++)
            {
                if (Cursor.IsBatchIndexAcknowledged(position, i))
                {
                    acked ??= new int[count];
                    acked[ackedCount++] = i;
                }
            }
        }
        var message = new DeliveredMessage(new MessageId(position.LedgerId, position.EntryId, -1, Subscription.PartitionIndex, count),
            DeliveredMessage.NoMessage, batch.ProducerName, batch.SequenceId, batch.PublishTimeMillis, redeliveries)
        {
            Compressed = batch.Compressed,
            AckedBatchIndexes = acked is null ? null : (IReadOnlyList<int>)new ArraySegment<int>(acked, 0, ackedCount),
        };
        if (!consumer.Sink.TrySend(message))
        {
            _sinkRefused = true;
            return DeliverResult.Blocked;
        }
        int sent = count - ackedCount;
        consumer.Permits -= sent;
        consumer.Pending[position] = new PendingAck(count, Environment.TickCount64);
        if (consumer.Pending.Count >= consumer.MaxUnackedEntries)
        {
            _wasAtUnackedLimit = true;
        }
        consumer.MessagesOut += sent;
        Subscription.CountDispatchedLocked(sent, entry.Data.Length);
        return DeliverResult.Delivered;
    }
}
