using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Pulsarish.Broker.Admin;
using Pulsarish.Broker.Dispatch;
using Pulsarish.Broker.Errors;
using Pulsarish.Protocol.Errors;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Topics;

/// <summary>
/// A persistent topic owned by this broker: its <see cref="ManagedLedger"/>, producers (access modes,
/// de-duplication, pending limits) and subscriptions. Loaded by <see cref="BrokerService.GetOrLoadTopicAsync"/>
/// (fence + recover the last ledger, recover the cursors and the de-duplication state). When the managed ledger is
/// fenced (another owner) the topic stops: sends fail with Fenced and consumers are disconnected. Thread-safe.
/// </summary>
public sealed class Topic : IAsyncDisposable
{
    private static long s_nextProducerId;

    private readonly object _lock = new();
    private readonly BrokerService _broker;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, Subscription> _subscriptions = new(StringComparer.Ordinal);
    private readonly Dictionary<string, Producer> _producers = new(StringComparer.Ordinal);
    private readonly LinkedList<ExclusiveWaiter> _exclusiveWaiters = new();
    private readonly SemaphoreSlim _subscriptionGate = new(1, 1);
    private readonly MessageDeduplication _deduplication;
    private readonly Action<Position, object?> _onPersisted;
    private EffectivePolicies _policies;
    private long _lastPublishTimeMillis;
    private long _messagesIn;
    private long _bytesIn;
    private long _statsMessagesIn;
    private long _statsBytesIn;
    private long _statsMessagesOut;
    private long _statsTimestamp = Environment.TickCount64;
    private double _messagesInRate;
    private double _bytesInRate;
    private double _messagesOutRate;
    private bool _closed;

    private Topic(BrokerService broker, TopicName name, ManagedLedger ledger, EffectivePolicies policies)
    {
        _broker = broker;
        Name = name;
        Ledger = ledger;
        _policies = policies;
        _logger = broker.LoggerFactory.CreateLogger<Topic>();
        _deduplication = new MessageDeduplication(ledger, broker.Options.DeduplicationSnapshotEntriesInterval,
            broker.Options.DeduplicationMaxProducers, broker.LoggerFactory.CreateLogger<MessageDeduplication>());
        _onPersisted = OnPersisted;
        ledger.EntriesAdded += OnEntriesAdded;
        ledger.Fenced += OnFenced;
    }

    public TopicName Name { get; }
    public ManagedLedger Ledger { get; }

    /// <summary>The namespace policies in force (refreshed by the broker's maintenance task).</summary>
    public EffectivePolicies Policies
    {
        get => Volatile.Read(ref _policies);
        internal set => Volatile.Write(ref _policies, value);
    }

    /// <summary>Raised once when the topic stopped because its managed ledger was fenced.</summary>
    public event Action<Topic, Exception>? Fenced;

    public bool IsClosed { get { lock (_lock) { return _closed; } } }

    /// <summary>The subscriptions by name.</summary>
    public IReadOnlyDictionary<string, Subscription> Subscriptions => _subscriptions;

    internal static async Task<Topic> LoadAsync(BrokerService broker, TopicName name, EffectivePolicies policies,
        bool createIfMissing, CancellationToken ct)
    {
        var config = broker.LedgerConfig(policies);
        var logger = broker.LoggerFactory.CreateLogger<ManagedLedger>();
        var ledger = await ManagedLedger.OpenAsync(name, broker.LedgerClient, broker.Store, broker.EntryCache, config,
            createIfMissing, logger, ct).ConfigureAwait(false);
        var topic = new Topic(broker, name, ledger, policies);
        try
        {
            var children = await broker.Store.GetChildrenAsync(ledger.Path, ct).ConfigureAwait(false);
            foreach (string child in children)
            {
                string cursorName = ManagedLedgerPaths.CursorName(child);
                if (cursorName == ManagedLedgerPaths.DeduplicationCursor)
                {
                    continue;
                }
                var cursor = await ManagedCursor.RecoverAsync(ledger, cursorName, broker.LoggerFactory.CreateLogger<ManagedCursor>(), ct)
                    .ConfigureAwait(false);
                if (cursor is not null)
                {
                    topic.AttachSubscription(cursor, SubscriptionType.Exclusive);
                }
            }
            await topic._deduplication.RecoverAsync(ct).ConfigureAwait(false);
        }
        catch
        {
            await topic.CloseAsync(new ServiceNotReadyException($"loading {name} failed"), flush: false).ConfigureAwait(false);
            throw;
        }
        return topic;
    }

    private Subscription AttachSubscription(ManagedCursor cursor, SubscriptionType type)
    {
        var subscription = new Subscription(Name.FullName, cursor, Ledger, type, Name.PartitionIndex, _broker.Options,
            _broker.LoggerFactory.CreateLogger<Subscription>());
        subscription.DelayedDeliveryEnabled = () => Policies.DelayedDeliveryEnabled;
        cursor.Fenced += OnFenced;
        _subscriptions[cursor.Name] = subscription;
        subscription.Start();
        return subscription;
    }

    private void OnEntriesAdded()
    {
        foreach (var subscription in _subscriptions.Values)
        {
            subscription.Signal();
        }
    }

    private void OnFenced(Exception cause)
    {
        lock (_lock)
        {
            if (_closed)
            {
                return;
            }
        }
        _logger.LogWarning("Topic {Topic} stops: {Cause}", Name.FullName, cause.Message);
        var reason = cause as TopicFencedException ?? new TopicFencedException(Name.FullName, cause);
        _ = CloseAsync(reason, flush: false);
        Fenced?.Invoke(this, reason);
    }

    private void ThrowIfClosed()
    {
        if (_closed)
        {
            throw Ledger.IsFenced ? new TopicFencedException(Name.FullName) : new ServiceNotReadyException($"topic {Name} is closed");
        }
    }

    // ---- producers ----

    /// <summary>
    /// Attaches a producer (Pulsar's access modes). Empty <paramref name="producerName"/>: one is generated.
    /// Shared fails with <see cref="ProducerBusyException"/> while an exclusive producer is attached or waiting;
    /// Exclusive while any producer is attached or waiting; ExclusiveWithFencing fences every attached producer and
    /// fails every waiting one (<see cref="ProducerFencedException"/>); a name in use fails too. WaitForExclusive
    /// cannot wait here: use <see cref="AddProducerAsync"/>.
    /// </summary>
    public Producer AddProducer(string? producerName, ProducerAccessMode accessMode = ProducerAccessMode.Shared)
    {
        Producer[] fenced;
        Producer producer;
        lock (_lock)
        {
            ThrowIfClosed();
            if (!Enum.IsDefined(accessMode))
            {
                throw new BadRequestException($"unknown producer access mode {accessMode}");
            }
            if (accessMode == ProducerAccessMode.WaitForExclusive && (_producers.Count > 0 || _exclusiveWaiters.Count > 0))
            {
                throw new ProducerBusyException($"topic {Name} has {_producers.Count} producers; WaitForExclusive must wait (AddProducerAsync)");
            }
            fenced = accessMode == ProducerAccessMode.ExclusiveWithFencing ? FenceOthersLocked() : [];
            CheckAccessLocked(accessMode);
            producer = AttachLocked(producerName, accessMode);
        }
        // Outside the lock: cancellation runs the fenced producers' stream callbacks.
        foreach (var p in fenced)
        {
            p.Fence();
        }
        return producer;
    }

    private void CheckAccessLocked(ProducerAccessMode accessMode)
    {
        foreach (var existing in _producers.Values)
        {
            if (existing.AccessMode != ProducerAccessMode.Shared)
            {
                throw new ProducerBusyException($"topic {Name} has exclusive producer {existing.Name}");
            }
        }
        if (_exclusiveWaiters.Count > 0)
        {
            throw new ProducerBusyException($"topic {Name} has {_exclusiveWaiters.Count} producers waiting for exclusive access");
        }
        if (accessMode != ProducerAccessMode.Shared && _producers.Count > 0)
        {
            throw new ProducerBusyException($"topic {Name} already has {_producers.Count} producers");
        }
    }

    private Producer AttachLocked(string? producerName, ProducerAccessMode accessMode)
    {
        {
            long id = Interlocked.Increment(ref s_nextProducerId);
            string name = string.IsNullOrEmpty(producerName) ? $"{_broker.Options.BrokerId}-{id}" : producerName;
            if (_producers.ContainsKey(name))
            {
                throw new ProducerBusyException($"producer {name} is already connected to {Name}");
            }
            var producer = new Producer(this, id, name, accessMode, _deduplication.LastSequenceId(name))
            {
                WriteFailuresAtAttach = Ledger.WriteFailures,
            };
            _producers[name] = producer;
            _logger.LogInformation("Producer {Producer} ({Mode}) attached to {Topic}", producer, accessMode, Name.FullName);
            return producer;
        }
    }

    /// <summary>
    /// Attaches a producer as <see cref="AddProducer"/> does, except that WaitForExclusive waits (in arrival order)
    /// until no other producer is attached, as Pulsar's broker queues such producers; <paramref name="ct"/> (the
    /// client leaving) withdraws the wait.
    /// </summary>
    public async Task<Producer> AddProducerAsync(string? producerName, ProducerAccessMode accessMode, CancellationToken ct)
    {
        if (accessMode != ProducerAccessMode.WaitForExclusive)
        {
            return AddProducer(producerName, accessMode);
        }
        ExclusiveWaiter waiter;
        lock (_lock)
        {
            ThrowIfClosed();
            if (_producers.Count == 0 && _exclusiveWaiters.Count == 0)
            {
                return AttachLocked(producerName, accessMode);
            }
            waiter = new ExclusiveWaiter(producerName);
            waiter.Node = _exclusiveWaiters.AddLast(waiter);
            _logger.LogInformation("Producer {Producer} waits for exclusive access to {Topic}", producerName, Name.FullName);
        }
        await using var registration = ct.Register(static state =>
        {
            var (topic, w) = ((Topic, ExclusiveWaiter))state!;
            topic.WithdrawWaiter(w);
        }, (this, waiter)).ConfigureAwait(false);
        return await waiter.Attached.Task.ConfigureAwait(false);
    }

    private void WithdrawWaiter(ExclusiveWaiter waiter)
    {
        bool removed;
        lock (_lock)
        {
            removed = waiter.Node is { } node && node.List == _exclusiveWaiters;
            if (removed)
            {
                _exclusiveWaiters.Remove(waiter.Node!);
            }
        }
        if (removed)
        {
            waiter.Attached.TrySetCanceled();
        }
    }

    /// <summary>Under the lock: the first waiter gets the topic once no producer is attached.</summary>
    private void PromoteWaiterLocked(List<(ExclusiveWaiter, Producer?, Exception?)> outcomes)
    {
        while (_producers.Count == 0 && !_closed && _exclusiveWaiters.First is { } first)
        {
            _exclusiveWaiters.RemoveFirst();
            try
            {
                outcomes.Add((first.Value, AttachLocked(first.Value.Name, ProducerAccessMode.WaitForExclusive), null));
            }
            catch (Exception e)
            {
                outcomes.Add((first.Value, null, e));
            }
        }
    }

    private static void Complete(List<(ExclusiveWaiter Waiter, Producer? Producer, Exception? Error)> outcomes)
    {
        foreach (var (waiter, producer, error) in outcomes)
        {
            if (producer is not null)
            {
                waiter.Attached.TrySetResult(producer);
            }
            else
            {
                waiter.Attached.TrySetException(error!);
            }
        }
    }

    /// <summary>Under the lock: detaches every producer and fails every waiter, for an ExclusiveWithFencing producer.</summary>
    private Producer[] FenceOthersLocked()
    {
        var fenced = _producers.Values.ToArray();
        foreach (var p in fenced)
        {
            p.IsClosed = true;
            _logger.LogInformation("Producer {Producer} on {Topic} is fenced by an ExclusiveWithFencing producer", p, Name.FullName);
        }
        _producers.Clear();
        foreach (var waiter in _exclusiveWaiters)
        {
            waiter.Attached.TrySetException(new ProducerFencedException($"topic {Name} was taken over by an ExclusiveWithFencing producer"));
        }
        _exclusiveWaiters.Clear();
        return fenced;
    }

    /// <summary>A WaitForExclusive producer queued for the topic.</summary>
    private sealed class ExclusiveWaiter(string? name)
    {
        public string? Name { get; } = name;
        public LinkedListNode<ExclusiveWaiter>? Node { get; set; }
        public TaskCompletionSource<Producer> Attached { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    private void DisconnectAfterWriteFailure(Producer producer)
    {
        if (producer.WriteFailed)
        {
            return;
        }
        producer.WriteFailed = true;
        _logger.LogWarning("A send of {Producer} to {Topic} failed to persist; disconnecting the producer", producer, Name.FullName);
        RemoveProducer(producer);
        producer.DetachFromClosedTopic();
    }

    internal void RemoveProducer(Producer producer)
    {
        List<(ExclusiveWaiter, Producer?, Exception?)>? promoted = null;
        lock (_lock)
        {
            if (_producers.TryGetValue(producer.Name, out var current) && ReferenceEquals(current, producer))
            {
                _producers.Remove(producer.Name);
            }
            producer.IsClosed = true;
            if (_producers.Count == 0 && _exclusiveWaiters.Count > 0)
            {
                PromoteWaiterLocked(promoted = new());
            }
        }
        if (promoted is not null)
        {
            Complete(promoted);
        }
    }

    /// <summary>
    /// Publishes one producer batch as one entry. The entry is queued for writing before this method returns, so
    /// calls made in order are stored in that order; the task completes after the ledger add completed (never
    /// earlier). Re-sent sequence ids already persisted are answered as duplicates without writing. Errors:
    /// TooLarge, BadRequest, ProducerQueueFull, Fenced, PersistenceError, ServiceNotReady.
    /// </summary>
    public Task<PublishResult> PublishAsync(Producer producer, StoredBatch batch)
    {
        ArgumentNullException.ThrowIfNull(producer);
        ArgumentNullException.ThrowIfNull(batch);
        try
        {
            // A closed topic detached its producers: they get its retriable error (reconnect and look up again),
            // not the permanent one of a producer that was never attached.
            lock (_lock)
            {
                ThrowIfClosed();
            }
            if (producer.WriteFailed)
            {
                throw new PersistenceException($"an earlier send of {producer} to {Name} failed; reconnect and resend in order");
            }
            if (producer.IsFenced)
            {
                throw new ProducerFencedException($"producer {producer} on {Name} was fenced by an ExclusiveWithFencing producer");
            }
            if (!ReferenceEquals(producer.Topic, this) || producer.IsClosed)
            {
                throw new NotAllowedException($"producer {producer} is not attached to {Name}");
            }
            // A client-compressed batch is validated from its header only: the broker never decompresses it.
            StoredBatchCodec.ValidateCompressed(batch);
            int count = StoredBatchCodec.MessageCount(batch);
            if (count == 0)
            {
                throw new BadRequestException("a send needs at least one message");
            }
            if (batch.SequenceId < 0 && Policies.DeduplicationEnabled)
            {
                throw new BadRequestException($"negative sequence id {batch.SequenceId}");
            }
            var policies = Policies;
            batch.ProducerName = producer.Name;
            long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            long publishTime;
            lock (_lock)
            {
                // Publish times never go backwards within a topic, so seeking by time can binary-search.
                publishTime = Math.Max(now, _lastPublishTimeMillis);
                _lastPublishTimeMillis = publishTime;
            }
            batch.PublishTimeMillis = publishTime;
            byte[] data = StoredBatchCodec.Encode(batch);
            if (data.Length > policies.MaxMessageSizeBytes)
            {
                throw new TooLargeException($"batch of {data.Length} bytes exceeds the maximum of {policies.MaxMessageSizeBytes}");
            }
            long lastSequenceId = batch.SequenceId + count - 1;
#if DEBUG
            if (TestOnlyFaults.AcknowledgeWithoutWriting())
            {
                var fake = Ledger.LastConfirmedPosition;
                return Task.FromResult(new PublishResult(new MessageId(fake.LedgerId, fake.EntryId, -1, Name.PartitionIndex, count), false));
            }
#endif
            bool deduplicate = policies.DeduplicationEnabled;
            if (deduplicate)
            {
                switch (_deduplication.TryPush(producer.Name, batch.SequenceId, lastSequenceId))
                {
                    case MessageDeduplication.PushResult.Duplicate:
                        return Task.FromResult(new PublishResult(default, true));
                    case MessageDeduplication.PushResult.InFlight:
                        throw new ServiceNotReadyException($"sequence id {batch.SequenceId} of {producer.Name} is still being persisted; retry");
                }
            }
            if (Interlocked.Increment(ref producer.PendingSends) > _broker.Options.MaxPendingMessagesPerProducer)
            {
                Interlocked.Decrement(ref producer.PendingSends);
                if (deduplicate)
                {
                    _deduplication.Failed(producer.Name);
                }
                throw new ProducerQueueFullException($"producer {producer} has {_broker.Options.MaxPendingMessagesPerProducer} pending sends");
            }
            if (!_broker.TryReservePublishBuffer(data.Length))
            {
                Interlocked.Decrement(ref producer.PendingSends);
                if (deduplicate)
                {
                    _deduplication.Failed(producer.Name);
                }
                throw new ProducerQueueFullException($"broker publish buffer of {_broker.Options.MaxPublishBufferBytes} bytes is full");
            }
            // Never stored after an earlier failed send of this producer (DESIGN §3: per-producer order).
            var add = deduplicate
                ? Ledger.AddEntryAsync(data, _onPersisted, new PersistedSend(producer.Name, lastSequenceId), producer.WriteFailuresAtAttach)
                : Ledger.AddEntryAsync(data, null, null, producer.WriteFailuresAtAttach);
            return CompletePublishAsync(add, producer, data.Length, count, deduplicate);
        }
        catch (Exception ex)
        {
            return Task.FromException<PublishResult>(ex);
        }
    }

    private sealed record PersistedSend(string ProducerName, long LastSequenceId);

    private void OnPersisted(Position position, object? state)
    {
        var send = (PersistedSend)state!;
        if (_deduplication.Persisted(send.ProducerName, send.LastSequenceId, position))
        {
            _ = SnapshotDeduplicationQuietlyAsync();
        }
    }

    private async Task<PublishResult> CompletePublishAsync(Task<Position> add, Producer producer, int bytes, int count,
        bool deduplicate)
    {
        bool persisted = false;
        try
        {
            var position = await add.ConfigureAwait(false);
            persisted = true;
            Interlocked.Add(ref _messagesIn, count);
            Interlocked.Add(ref _bytesIn, bytes);
            Interlocked.Add(ref producer.MessagesIn, count);
            Interlocked.Add(ref producer.BytesIn, bytes);
            return new PublishResult(new MessageId(position.LedgerId, position.EntryId, -1, Name.PartitionIndex, count), false);
        }
        catch (PersistenceException)
        {
            // As Pulsar's PersistentTopic.addFailed: the producer is disconnected so that its client resends from the
            // failed send on, in order; its later sends already on the wire are refused.
            DisconnectAfterWriteFailure(producer);
            throw;
        }
        finally
        {
            Interlocked.Decrement(ref producer.PendingSends);
            _broker.ReleasePublishBuffer(bytes);
            if (deduplicate && !persisted)
            {
                _deduplication.Failed(producer.Name);
            }
        }
    }

    private async Task SnapshotDeduplicationQuietlyAsync()
    {
        try
        {
            await _deduplication.TakeSnapshotAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            _logger.LogWarning(ex, "De-duplication snapshot of {Topic} failed", Name.FullName);
        }
    }

    /// <summary>Highest persisted sequence id of a producer name (-1: none).</summary>
    public long GetLastSequenceId(string producerName) => _deduplication.LastSequenceId(producerName);

    // ---- subscriptions ----

    /// <summary>
    /// Attaches a consumer to a subscription, creating the durable subscription (cursor) on first use at
    /// <see cref="SubscribeOptions.InitialPosition"/>. Errors: SubscriptionBusy (exclusive taken, other type),
    /// BadRequest (invalid name), Fenced/ServiceNotReady.
    /// </summary>
    public async Task<Consumer> SubscribeAsync(SubscribeOptions options, IConsumerSink sink, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(sink);
        if (!Enum.IsDefined(options.Type) || !Enum.IsDefined(options.InitialPosition))
        {
            throw new BadRequestException($"unknown subscription type {options.Type} or initial position {options.InitialPosition}");
        }
        var subscription = options.Durable
            ? await GetOrCreateSubscriptionAsync(options.Subscription, options.Type, options.InitialPosition, ct).ConfigureAwait(false)
            : await GetOrCreateNonDurableSubscriptionAsync(options, ct).ConfigureAwait(false);
        return subscription.AddConsumer(options, sink);
    }

    /// <summary>
    /// A reader's subscription (Pulsar's non-durable cursor): created in memory at the start position, never
    /// persisted, removed when its last consumer leaves. A durable subscription of the same name: SubscriptionBusy.
    /// </summary>
    private async Task<Subscription> GetOrCreateNonDurableSubscriptionAsync(SubscribeOptions options, CancellationToken ct)
    {
        string name = options.Subscription;
        ValidateSubscriptionName(name);
        await _subscriptionGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            lock (_lock)
            {
                ThrowIfClosed();
            }
            if (_subscriptions.TryGetValue(name, out var existing))
            {
                if (existing.Cursor.IsDurable)
                {
                    throw new SubscriptionBusyException($"{Name} has a durable subscription named {name}");
                }
                return existing;
            }
            var cursor = ManagedCursor.CreateNonDurable(Ledger, name, NonDurableStart(options),
                _broker.LoggerFactory.CreateLogger<ManagedCursor>());
            var subscription = AttachSubscription(cursor, options.Type);
            subscription.Abandoned += OnNonDurableAbandoned;
            return subscription;
        }
        finally
        {
            _subscriptionGate.Release();
        }
    }

    /// <summary>The mark-delete position a reader's cursor starts at: just before the first entry it delivers.</summary>
    private Position NonDurableStart(SubscribeOptions options)
    {
        if (options.StartMessageId is { } id)
        {
            // The entry of the start id is delivered; the client skips the messages of it before the id (and the id
            // itself unless inclusive), as Pulsar's reader does with batch indexes.
            var first = Subscription.EntryAtOrAfter(Ledger, id.Position);
            return new Position(first.LedgerId, first.EntryId - 1);
        }
        if (options.InitialPosition == InitialPosition.Earliest)
        {
            return Ledger.BeforeFirstPosition;
        }
        var last = Ledger.LastConfirmedPosition;
        if (options.StartMessageIdInclusive && Ledger.IsValidEntry(last))
        {
            return new Position(last.LedgerId, last.EntryId - 1);
        }
        return last;
    }

    private void OnNonDurableAbandoned(Subscription subscription)
    {
        _subscriptions.TryRemove(new KeyValuePair<string, Subscription>(subscription.Name, subscription));
        _ = subscription.CloseAsync(new ServiceNotReadyException($"reader subscription {subscription.Name} of {Name} closed"), flush: false);
    }

    /// <summary>
    /// The last stored message: its entry's position with the index of the entry's last message (Pulsar's
    /// GetLastMessageId), or null when the topic has no stored entry.
    /// </summary>
    public async Task<MessageId?> GetLastMessageIdAsync(CancellationToken ct = default)
    {
        var last = Ledger.LastConfirmedPosition;
        if (!Ledger.IsValidEntry(last))
        {
            return null;
        }
        var entry = await Ledger.ReadEntryAsync(last, ct).ConfigureAwait(false);
        int batchSize = Math.Max(1, StoredBatchCodec.Decode(entry.Data).Messages.Count);
        return new MessageId(last.LedgerId, last.EntryId, batchSize - 1, Name.PartitionIndex, batchSize);
    }

    /// <summary>The subscription, created at <paramref name="initialPosition"/> when missing.</summary>
    public async Task<Subscription> GetOrCreateSubscriptionAsync(string name, SubscriptionType type,
        InitialPosition initialPosition, CancellationToken ct = default)
    {
        ValidateSubscriptionName(name);
        if (_subscriptions.TryGetValue(name, out var existing) && existing.Cursor.IsDurable)
        {
            return existing;
        }
        await _subscriptionGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            lock (_lock)
            {
                ThrowIfClosed();
            }
            if (_subscriptions.TryGetValue(name, out existing))
            {
                if (!existing.Cursor.IsDurable)
                {
                    throw new SubscriptionBusyException($"{Name} has a reader (non-durable) subscription named {name}");
                }
                return existing;
            }
            var markDelete = initialPosition == InitialPosition.Earliest ? Ledger.BeforeFirstPosition : Ledger.LastConfirmedPosition;
            var cursor = await ManagedCursor.CreateAsync(Ledger, name, markDelete, _broker.LoggerFactory.CreateLogger<ManagedCursor>(), ct)
                .ConfigureAwait(false);
            return AttachSubscription(cursor, type);
        }
        finally
        {
            _subscriptionGate.Release();
        }
    }

    private static void ValidateSubscriptionName(string name)
    {
        if (string.IsNullOrEmpty(name) || name.Length > 256 || name == ManagedLedgerPaths.DeduplicationCursor
            || name.StartsWith("pulsar.", StringComparison.Ordinal))
        {
            throw new BadRequestException($"invalid subscription name '{EchoedName.Of(name)}'");
        }
        foreach (char c in name)
        {
            if (char.IsControl(c))
            {
                throw new BadRequestException("control character in subscription name");
            }
        }
    }

    /// <summary>Deletes a subscription without consumers (SubscriptionBusy otherwise, SubscriptionNotFound when unknown).</summary>
    public async Task UnsubscribeAsync(string name, CancellationToken ct = default)
    {
        if (!_subscriptions.TryGetValue(name, out var subscription))
        {
            throw new SubscriptionNotFoundException(Name.FullName, name);
        }
        if (subscription.ConsumerCount > 0)
        {
            throw new SubscriptionBusyException($"subscription {name} of {Name} has consumers");
        }
        _subscriptions.TryRemove(name, out _);
        await subscription.CloseAsync(new SubscriptionNotFoundException(Name.FullName, name), flush: false).ConfigureAwait(false);
        await subscription.Cursor.DeleteAsync(ct).ConfigureAwait(false);
    }

    // ---- maintenance ----

    /// <summary>
    /// TTL (logical expiry per subscription), then retention (delete whole consumed ledgers the policy no longer
    /// keeps), the de-duplication snapshot and the age roll-over. Returns the deleted ledger ids.
    /// </summary>
    public async Task<IReadOnlyList<long>> RunRetentionAsync(CancellationToken ct = default)
    {
        if (IsClosed)
        {
            return Array.Empty<long>();
        }
        var policies = Policies;
        Ledger.RollOverIfAged();
        if (policies.MessageTtl > TimeSpan.Zero)
        {
            foreach (var subscription in _subscriptions.Values)
            {
                await subscription.ExpireMessagesAsync(policies.MessageTtl, ct).ConfigureAwait(false);
            }
        }
        await _deduplication.TakeSnapshotAsync(ct).ConfigureAwait(false);
        // Without subscriptions everything written counts as consumed (Pulsar: retention alone keeps it).
        var slowest = Ledger.LastConfirmedPosition;
        foreach (var subscription in _subscriptions.Values)
        {
            slowest = Position.Min(slowest, subscription.Cursor.MarkDeletePosition);
        }
        return await Ledger.TrimConsumedLedgersAsync(slowest, policies.RetentionTime, policies.RetentionSizeBytes, ct)
            .ConfigureAwait(false);
    }

    internal void CheckAckTimeouts()
    {
        foreach (var subscription in _subscriptions.Values)
        {
            subscription.CheckAckTimeouts();
        }
    }

    // ---- stats ----

    /// <summary>
    /// Sets the rates of <see cref="GetStats"/> to those since the previous call (the broker calls this every
    /// <see cref="BrokerOptions.StatsUpdateInterval"/>, as Pulsar's stats update task): a rate is of the last interval,
    /// so it is 0 an interval after traffic stops, not an average since the previous stats request.
    /// </summary>
    public void UpdateRates()
    {
        long now = Environment.TickCount64;
        long messagesIn = Interlocked.Read(ref _messagesIn);
        long bytesIn = Interlocked.Read(ref _bytesIn);
        long messagesOut = 0;
        foreach (var subscription in _subscriptions.Values)
        {
            messagesOut += subscription.GetStats().MessagesOut;
        }
        lock (_lock)
        {
            double seconds = Math.Max(0.001, (now - _statsTimestamp) / 1000.0);
            _messagesInRate = (messagesIn - _statsMessagesIn) / seconds;
            _bytesInRate = (bytesIn - _statsBytesIn) / seconds;
            // A deleted subscription takes its count along: no negative rate.
            _messagesOutRate = Math.Max(0, messagesOut - _statsMessagesOut) / seconds;
            _statsTimestamp = now;
            _statsMessagesIn = messagesIn;
            _statsBytesIn = bytesIn;
            _statsMessagesOut = messagesOut;
        }
    }

    public TopicStats GetStats()
    {
        long messagesIn = Interlocked.Read(ref _messagesIn);
        long bytesIn = Interlocked.Read(ref _bytesIn);
        var subscriptions = new List<SubscriptionStats>();
        foreach (var subscription in _subscriptions.Values)
        {
            subscriptions.Add(subscription.GetStats());
        }
        double messagesInRate, bytesInRate, messagesOutRate;
        lock (_lock)
        {
            (messagesInRate, bytesInRate, messagesOutRate) = (_messagesInRate, _bytesInRate, _messagesOutRate);
        }
        var publishers = new List<PublisherStats>();
        lock (_lock)
        {
            foreach (var p in _producers.Values)
            {
                publishers.Add(new PublisherStats(p.Name, p.ProducerId, Interlocked.Read(ref p.MessagesIn),
                    Interlocked.Read(ref p.BytesIn), p.PendingMessages));
            }
        }
        return new TopicStats(Name.FullName, messagesInRate, bytesInRate, messagesOutRate, messagesIn, bytesIn, Ledger.TotalSizeBytes, Ledger.NumberOfEntries,
            Ledger.LedgerCount, publishers, subscriptions);
    }

    public TopicInternalStats GetInternalStats()
    {
        var ledgers = new List<LedgerStats>();
        foreach (var l in Ledger.GetLedgers())
        {
            ledgers.Add(new LedgerStats(l.LedgerId, l.Entries, l.Size, l.CtimeMillis));
        }
        var cursors = new List<CursorStats>();
        foreach (var subscription in _subscriptions.Values)
        {
            var c = subscription.Cursor;
            cursors.Add(new CursorStats(c.Name, c.MarkDeletePosition.ToString(), c.ReadPosition.ToString(),
                c.IndividuallyDeletedCount, c.CursorLedgerId, c.Backlog));
        }
        return new TopicInternalStats(Name.FullName, Ledger.NumberOfEntries, Ledger.TotalSizeBytes,
            Ledger.LastConfirmedPosition.ToString(), Ledger.CurrentLedgerId, ledgers, cursors);
    }

    // ---- lifecycle ----

    /// <summary>
    /// Stops the topic: producers are detached, consumers disconnected with <paramref name="reason"/>. With
    /// <paramref name="flush"/> (orderly unload) cursors and the de-duplication snapshot are persisted and the
    /// current ledger closed.
    /// </summary>
    internal async Task CloseAsync(Exception reason, bool flush)
    {
        Producer[] detached;
        ExclusiveWaiter[] waiters;
        lock (_lock)
        {
            if (_closed)
            {
                return;
            }
            _closed = true;
            detached = _producers.Values.ToArray();
            foreach (var p in detached)
            {
                p.IsClosed = true;
            }
            _producers.Clear();
            waiters = _exclusiveWaiters.ToArray();
            _exclusiveWaiters.Clear();
        }
        foreach (var waiter in waiters)
        {
            waiter.Attached.TrySetException(new ServiceNotReadyException($"topic {Name} is closed"));
        }
        // Outside the lock: cancellation runs the producers' stream callbacks.
        foreach (var p in detached)
        {
            p.DetachFromClosedTopic();
        }
        if (flush)
        {
            await Ledger.CloseAsync().ConfigureAwait(false);
        }
        foreach (var subscription in _subscriptions.Values)
        {
            await subscription.CloseAsync(reason, flush).ConfigureAwait(false);
        }
        if (flush)
        {
            try
            {
                await _deduplication.TakeSnapshotAsync().ConfigureAwait(false);
            }
            catch (Exception ex)
            {
                _logger.LogWarning(ex, "Final de-duplication snapshot of {Topic} failed", Name.FullName);
            }
        }
        else
        {
            await Ledger.CloseAsync(TimeSpan.Zero).ConfigureAwait(false);
        }
        _logger.LogInformation("Topic {Topic} closed ({Reason})", Name.FullName, reason.Message);
    }

    /// <summary>Deletes the topic's data: subscriptions must have no consumers unless <paramref name="force"/>.</summary>
    internal async Task DeleteAsync(bool force, CancellationToken ct)
    {
        if (!force)
        {
            lock (_lock)
            {
                if (_producers.Count > 0)
                {
                    throw new NotAllowedException($"topic {Name} has producers");
                }
            }
            foreach (var subscription in _subscriptions.Values)
            {
                if (subscription.ConsumerCount > 0)
                {
                    throw new NotAllowedException($"topic {Name} has consumers on {subscription.Name}");
                }
            }
        }
        await CloseAsync(new TopicNotFoundException(Name.FullName), flush: false).ConfigureAwait(false);
        foreach (var subscription in _subscriptions.Values)
        {
            await subscription.Cursor.DeleteAsync(ct).ConfigureAwait(false);
        }
        await Ledger.DeleteAsync(ct).ConfigureAwait(false);
    }

    public ValueTask DisposeAsync() => new(CloseAsync(new ServiceNotReadyException($"topic {Name} unloaded"), flush: true));
}
