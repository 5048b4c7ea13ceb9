using System.Collections.Concurrent;
using System.Threading.Channels;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Client;

/// <summary>
/// The consumer of one topic (or one partition): owns the Consume stream, grants flow permits (the receiver queue
/// size up front, then more each time half of them were taken by the application), pushes received messages into
/// the consumer's queue, and reconnects (new lookup) after any disconnect. Each connection has an epoch; messages
/// of an older epoch still queued are dropped on receive, because the broker redelivers everything unacknowledged
/// after a disconnect (Pulsar clears its receiver queue likewise). The lookup/connect/reconnect loop is
/// <see cref="ReconnectingStream{TRequest,TResponse}"/>'s.
/// <para>
/// As a reader's (<see cref="ConsumerOptions.Reader"/>) it subscribes non-durably at the start message id, skips the
/// messages of the start entry before it (Pulsar's reader does the same with batch indexes), and after a reconnect
/// starts after the last message the application took.
/// </para>
/// </summary>
internal sealed class PartitionConsumer : ReconnectingStream<ConsumeRequest, ConsumeResponse>
{
    private readonly ConsumerOptions _options;
    private readonly ChannelWriter<Message> _sink;
    private readonly ConcurrentDictionary<ulong, TaskCompletionSource<bool>> _ackWaiters = new();
    /// <summary>Requests with an id awaiting their answer; a null result means the stream broke first.</summary>
    private readonly ConcurrentDictionary<ulong, TaskCompletionSource<ConsumeResponse?>> _requestWaiters = new();
    private readonly int _refillThreshold;
    private readonly ChunkedMessageAssembler _chunks;
    private int _chunkExpiryArmed;

    /// <summary>Completed by the next successful (re)subscription, then replaced.</summary>
    private TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);

    /// <summary>The waiters of the subscription just installed, completed once it has its permits.</summary>
    private TaskCompletionSource? _subscribed;
    private long _epoch;
    private int _takenSinceFlow;
    private long _nextRequestId;
    private string? _consumerName;

    // Reader state (under Sync): where the next subscription starts, what the current stream skips, the last message
    // taken by the application, and the position before the first message the current stream delivers.
    private ReaderStart? _readerStart;
    private ReaderStart? _openingStart;
    private ReaderStart? _skipThrough;
    private MessageId? _lastDequeued;
    private MessageId? _baseline;

    public PartitionConsumer(PulsarishClient client, string topic, int partition, ConsumerOptions options,
        ChannelWriter<Message> sink)
        : base(client, topic, "Consumer", "subscribed", client.CreateLogger<PartitionConsumer>())
    {
        Partition = partition;
        _options = options;
        _sink = sink;
        _consumerName = options.ConsumerName;
        _refillThreshold = Math.Max(1, options.ReceiverQueueSize / 2);
        if (options.Reader is { } reader)
        {
            bool special = reader.MessageId == MessageId.Earliest || reader.MessageId == MessageId.Latest;
            _readerStart = special ? reader : reader with { MessageId = reader.MessageId.WithPartition(partition) };
        }
        _chunks = new ChunkedMessageAssembler(options);
    }

    private bool IsReader => _options.Reader is not null;

    public int Partition { get; }

    /// <summary>Raised when the broker makes this consumer the active one (true) or not (false) — Failover.</summary>
    public event Action<bool>? ActiveChanged;

    /// <summary>The broker-confirmed consumer name.</summary>
    public string ConsumerName => _consumerName ?? "";

    protected override string Name => ConsumerName;

    /// <summary>
    /// Accounts one message taken by the application: false when it belongs to an older connection (dropped:
    /// it is redelivered). Grants permits again once half the receiver queue was taken.
    /// </summary>
    public bool OnTaken(Message message)
    {
        Connection? refill = null;
        int permits = 0;
        lock (Sync)
        {
            if (message.Epoch != _epoch)
            {
                return false;
            }

            if (IsReader)
            {
                _lastDequeued = message.MessageId;
            }

            if (++_takenSinceFlow >= _refillThreshold && Current is { } current)
            {
                permits = _takenSinceFlow;
                _takenSinceFlow = 0;
                refill = current;
            }
        }

        if (refill is not null)
        {
            refill.Outbound.TryWrite(new ConsumeRequest { Flow = new Flow { Permits = permits } });
            if (IsReader)
            {
                // Moves the reader's in-memory cursor along with the permits (Pulsar's reader acknowledges
                // cumulatively too), so the broker's unacknowledged-entries bound never stops it.
                refill.Outbound.TryWrite(new ConsumeRequest
                {
                    Ack = new Ack { Type = AckType.Cumulative, MessageIds = { message.MessageId.ToProto() } },
                });
            }
        }

        return true;
    }

    /// <summary>Sends an ack and waits for the broker's answer (errors become <see cref="PulsarishClientException"/>).</summary>
    public async Task AcknowledgeAsync(AckType type, IEnumerable<MessageId> ids, CancellationToken ct)
    {
        var connection = CurrentConnection();
        ulong requestId = (ulong)Interlocked.Increment(ref _nextRequestId);
        var ack = new Ack { Type = type, RequestId = requestId };
        var given = new List<MessageId>();
        var expanded = new List<MessageId>();
        foreach (var id in ids)
        {
            given.Add(id);
            // A chunked message's id acknowledges all its chunks; cumulatively its last chunk covers them.
            if (type == AckType.Individual)
            {
                _chunks.Expand(id, expanded);
            }
            else
            {
                expanded.Add(id);
            }
        }

        foreach (var id in expanded)
        {
            ack.MessageIds.Add(id.ToProto());
        }

        var waiter = new TaskCompletionSource<bool>(TaskCreationOptions.RunContinuationsAsynchronously);
        _ackWaiters[requestId] = waiter;
        try
        {
            if (!connection.Outbound.TryWrite(new ConsumeRequest { Ack = ack }))
            {
                throw NotConnected();
            }

            await waiter.Task.WaitAsync(Client.Options.OperationTimeout, ct).ConfigureAwait(false);
            foreach (var id in given)
            {
                if (type == AckType.Individual)
                {
                    _chunks.Forget(id);
                }
                else
                {
                    _chunks.ForgetUpTo(id);
                }
            }
        }
        catch (TimeoutException e)
        {
            throw new PulsarishClientException(ErrorReason.ServiceNotReady,
                $"no ack response within {Client.Options.OperationTimeout}", e);
        }
        finally
        {
            _ackWaiters.TryRemove(requestId, out _);
        }
    }

    /// <summary>The last message stored on this topic (Pulsar's getLastMessageId); (-1, -1) when there is none.</summary>
    public async Task<MessageId> GetLastMessageIdAsync(CancellationToken ct)
    {
        var answer = await RequestAsync(
            static id => new ConsumeRequest { GetLastMessageId = new GetLastMessageId { RequestId = id } }, ct).ConfigureAwait(false);
        var last = answer.LastMessageId;
        if (last.Reason != ErrorReason.None)
        {
            throw new PulsarishClientException(last.Reason, last.Message);
        }

        var id = MessageId.FromProto(last.MessageId ?? new MessageIdData { LedgerId = -1, EntryId = -1, BatchIndex = -1 });
        return id.WithPartition(Partition).WithTopic(Topic);
    }

    /// <summary>
    /// Reader: whether a message after the last one taken (or after the start position) is stored — a message is
    /// then queued, on its way, or will be delivered (Pulsar's hasMessageAvailable).
    /// </summary>
    public async Task<bool> HasMessageAvailableAsync(CancellationToken ct)
    {
        var last = await GetLastMessageIdAsync(ct).ConfigureAwait(false);
        if (last.EntryId < 0)
        {
            return false;
        }

        MessageId? seen;
        lock (Sync)
        {
            seen = _baseline;
            if (_lastDequeued is { } dequeued && (seen is null || CompareEntryAndIndex(dequeued, seen.Value) > 0))
            {
                seen = dequeued;
            }
        }

        return seen is null || CompareEntryAndIndex(last, seen.Value) > 0;
    }

    /// <summary>
    /// Sends a request with a request id (built by <paramref name="build"/>) and waits for the answer that carries it.
    /// A stream that breaks first (or is being replaced) gets the request again on the next stream, within the
    /// operation timeout: the requests sent this way (last message id, seek) may be repeated.
    /// </summary>
    private async Task<ConsumeResponse> RequestAsync(Func<ulong, ConsumeRequest> build, CancellationToken ct)
    {
        using var deadline = CancellationTokenSource.CreateLinkedTokenSource(ct);
        deadline.CancelAfter(Client.Options.OperationTimeout);
        try
        {
            while (true)
            {
                var connection = Current;
                if (connection is null)
                {
                    if (Closing.IsCancellationRequested)
                    {
                        throw NotConnected();
                    }

                    Task connected;
                    lock (Sync)
                    {
                        connected = _connected.Task;
                    }

                    await connected.WaitAsync(deadline.Token).ConfigureAwait(false);
                    continue;
                }

                ulong requestId = (ulong)Interlocked.Increment(ref _nextRequestId);
                var waiter = new TaskCompletionSource<ConsumeResponse?>(TaskCreationOptions.RunContinuationsAsynchronously);
                _requestWaiters[requestId] = waiter;
                try
                {
                    if (connection.Outbound.TryWrite(build(requestId))
                        && await waiter.Task.WaitAsync(deadline.Token).ConfigureAwait(false) is { } answer)
                    {
                        return answer;
                    }
                }
                finally
                {
                    _requestWaiters.TryRemove(requestId, out _);
                }

                // The stream broke (or is ending) before answering: ask again on the next one.
                await Task.Delay(10, deadline.Token).ConfigureAwait(false);
            }
        }
        catch (OperationCanceledException e) when (!ct.IsCancellationRequested)
        {
            throw new PulsarishClientException(ErrorReason.ServiceNotReady,
                $"consumer on {Topic}: no answer within {Client.Options.OperationTimeout}", e);
        }
    }

    /// <summary>Orders ids by ledger, entry and batch index (-1, the whole entry, before index 0).</summary>
    private static int CompareEntryAndIndex(MessageId a, MessageId b)
    {
        int c = a.LedgerId.CompareTo(b.LedgerId);
        if (c == 0)
        {
            c = a.EntryId.CompareTo(b.EntryId);
        }

        return c != 0 ? c : a.BatchIndex.CompareTo(b.BatchIndex);
    }

    /// <summary>Reader: whether the current stream's start says to skip <paramref name="id"/>.</summary>
    private bool SkipLocked(MessageId id)
    {
        if (_skipThrough is not { } start)
        {
            return false;
        }

        var from = start.MessageId;
        if (start.Inclusive)
        {
            return CompareEntryAndIndex(id, from) < 0;
        }

        // An exclusive start naming the whole entry (batch index -1) skips all of that entry.
        var through = from.BatchIndex < 0 ? new MessageId(from.LedgerId, from.EntryId, int.MaxValue) : from;
        return CompareEntryAndIndex(id, through) <= 0;
    }

    /// <summary>Asks the broker to redeliver these messages (fire and forget; lost with a disconnect, which redelivers anyway).</summary>
    public void NegativeAcknowledge(IEnumerable<MessageId> ids)
    {
        var nack = new NegativeAck();
        var expanded = new List<MessageId>();
        foreach (var id in ids)
        {
            _chunks.Expand(id, expanded);
        }

        foreach (var id in expanded)
        {
            nack.MessageIds.Add(id.ToProto());
        }

        Current?.Outbound.TryWrite(new ConsumeRequest { NegativeAck = nack });
    }

    /// <summary>Asks for redelivery of every unacknowledged message of this consumer.</summary>
    public void RedeliverUnacknowledged()
        => Current?.Outbound.TryWrite(new ConsumeRequest { Redeliver = new RedeliverUnacknowledged() });

    /// <summary>
    /// Resets the subscription and waits for the broker's answer, then reconnects so that queued messages of the old
    /// position are dropped (Pulsar's broker disconnects consumers on seek likewise). Completes once subscribed
    /// again. A reader resubscribes at the position the broker answered (its non-durable subscription ends with
    /// the stream).
    /// </summary>
    public async Task SeekAsync(Seek seek, CancellationToken ct)
    {
        var answer = (await RequestAsync(id =>
        {
            var request = seek.Clone();
            request.RequestId = id;
            return new ConsumeRequest { Seek = request };
        }, ct).ConfigureAwait(false)).SeekResponse;
        if (answer.Reason != ErrorReason.None)
        {
            throw new PulsarishClientException(answer.Reason, answer.Message);
        }

        Task connected;
        Connection? current;
        lock (Sync)
        {
            // The stream current now ends and the next subscription (waited for below) starts from the new state;
            // messages still queued from before the seek are dropped from now on.
            connected = _connected.Task;
            current = Current;
            _epoch++;
            if (IsReader)
            {
                var position = answer.Position ?? new MessageIdData();
                _readerStart = new ReaderStart(new MessageId(position.LedgerId, position.EntryId, -1, Partition), Inclusive: true);
                _lastDequeued = null;
                _baseline = null;
            }
        }

        current?.Outbound.Complete();
        try
        {
            await connected.WaitAsync(Client.Options.OperationTimeout, ct).ConfigureAwait(false);
        }
        catch (TimeoutException e)
        {
            throw new PulsarishClientException(ErrorReason.ServiceNotReady,
                $"consumer on {Topic} not resubscribed within {Client.Options.OperationTimeout} after seek", e);
        }
    }

    private Connection CurrentConnection()
        => Current ?? throw NotConnected();

    private PulsarishClientException NotConnected()
        => new(ErrorReason.ServiceNotReady, $"consumer on {Topic} is not connected (reconnecting)");

    protected override AsyncDuplexStreamingCall<ConsumeRequest, ConsumeResponse> StartCall(
        PulsarishBroker.PulsarishBrokerClient broker, CancellationToken callToken)
        => broker.Consume(cancellationToken: callToken);

    protected override ConsumeRequest OpenRequest()
    {
        var subscribe = new Subscribe
        {
            Topic = Topic,
            Subscription = _options.SubscriptionName,
            Type = (Protocol.Broker.SubscriptionType)(int)_options.SubscriptionType,
            InitialPosition = _options.InitialPosition == SubscriptionInitialPosition.Earliest
                ? InitialPosition.Earliest
                : InitialPosition.Latest,
            ConsumerName = _consumerName ?? "",
            PriorityLevel = _options.PriorityLevel,
        };
        if (IsReader)
        {
            ReaderStart start;
            lock (Sync)
            {
                // After a reconnect: right after the last message the application took (Pulsar's reader likewise).
                start = _lastDequeued is { } last ? new ReaderStart(last, Inclusive: false) : _readerStart!;
                _openingStart = start;
            }

            subscribe.NonDurable = true;
            subscribe.Type = Protocol.Broker.SubscriptionType.Exclusive;
            subscribe.StartMessageIdInclusive = start.Inclusive;
            if (start.MessageId == MessageId.Earliest)
            {
                subscribe.InitialPosition = InitialPosition.Earliest;
            }
            else if (start.MessageId == MessageId.Latest)
            {
                subscribe.InitialPosition = InitialPosition.Latest;
            }
            else
            {
                subscribe.StartMessageId = start.MessageId.ToProto();
            }
        }

        return new ConsumeRequest { Subscribe = subscribe };
    }

    /// <summary>Takes the broker's first answer on a new Consume stream: a new epoch for the new stream.</summary>
    protected override void OnOpenedLocked(Connection connection, ConsumeResponse first)
    {
        if (first.ResponseCase == ConsumeResponse.ResponseOneofCase.Error)
        {
            throw new PulsarishClientException(first.Error.Reason, first.Error.Message);
        }

        if (first.ResponseCase != ConsumeResponse.ResponseOneofCase.Subscribed)
        {
            throw new PulsarishClientException(ErrorReason.BadRequest, $"broker answered {first.ResponseCase} to subscribe");
        }

        _consumerName = first.Subscribed.ConsumerName;
        if (IsReader)
        {
            var start = _openingStart;
            bool specific = start is not null && start.MessageId != MessageId.Earliest && start.MessageId != MessageId.Latest;
            _skipThrough = specific ? start : null;
            // Nothing at or before the broker's start position is delivered, nor what this stream skips.
            var markDelete = first.Subscribed.MarkDeletePosition ?? new MessageIdData { LedgerId = -1, EntryId = -1 };
            var baseline = new MessageId(markDelete.LedgerId, markDelete.EntryId, int.MaxValue, Partition);
            if (specific && !start!.Inclusive)
            {
                var from = start.MessageId;
                var through = from.BatchIndex < 0 ? new MessageId(from.LedgerId, from.EntryId, int.MaxValue, Partition) : from;
                if (CompareEntryAndIndex(through, baseline) > 0)
                {
                    baseline = through;
                }
            }

            _baseline = baseline;
        }

        connection.Epoch = ++_epoch;
        _takenSinceFlow = 0;
        // Swapped with the stream itself: a seek that sees the new stream waits for the next subscription.
        _subscribed = _connected;
        _connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
    }

    /// <summary>Grants the receiver queue's permits and completes the waiters of this (re)subscription.</summary>
    protected override void OnOpened(Connection connection)
    {
        var subscribed = Interlocked.Exchange(ref _subscribed, null);
        connection.Outbound.TryWrite(new ConsumeRequest { Flow = new Flow { Permits = _options.ReceiverQueueSize } });
        Logger.LogInformation("Consumer {ConsumerName} subscribed to {Topic} ({Subscription}) on {Broker}",
            _consumerName, Topic, _options.SubscriptionName, connection.Address);
        subscribed?.TrySetResult();
    }

    protected override async ValueTask<bool> OnResponseAsync(Connection connection, ConsumeResponse response)
    {
        switch (response.ResponseCase)
        {
            case ConsumeResponse.ResponseOneofCase.Message when response.Message.Chunk is not null:
                if (OnChunk(connection, response.Message) is { } assembled && !(IsReader && SkipBeforeStart(assembled)))
                {
                    await _sink.WriteAsync(assembled, connection.Token).ConfigureAwait(false);
                }

                break;
            case ConsumeResponse.ResponseOneofCase.Message:
                var message = ToMessage(response.Message, connection.Epoch);
                if (IsReader && SkipBeforeStart(message))
                {
                    break;
                }

                await _sink.WriteAsync(message, connection.Token).ConfigureAwait(false);
                break;
            case ConsumeResponse.ResponseOneofCase.SeekResponse:
                CompleteRequest(response.SeekResponse.RequestId, response);
                break;
            case ConsumeResponse.ResponseOneofCase.LastMessageId:
                CompleteRequest(response.LastMessageId.RequestId, response);
                break;
            case ConsumeResponse.ResponseOneofCase.AckResponse:
                var answer = response.AckResponse;
                if (_ackWaiters.TryRemove(answer.RequestId, out var waiter))
                {
                    if (answer.Reason == ErrorReason.None)
                    {
                        waiter.TrySetResult(true);
                    }
                    else
                    {
                        waiter.TrySetException(new PulsarishClientException(answer.Reason, answer.Message));
                    }
                }

                break;
            case ConsumeResponse.ResponseOneofCase.ActiveChange:
                ActiveChanged?.Invoke(response.ActiveChange.IsActive);
                break;
            case ConsumeResponse.ResponseOneofCase.Error:
                connection.LastError = new PulsarishClientException(response.Error.Reason, response.Error.Message);
                Logger.LogWarning("Consumer {ConsumerName} on {Topic}: broker error {Reason}: {Message}",
                    _consumerName, Topic, response.Error.Reason, response.Error.Message);
                break;
        }

        return true;
    }

    private void CompleteRequest(ulong requestId, ConsumeResponse response)
    {
        if (_requestWaiters.TryRemove(requestId, out var waiter))
        {
            waiter.TrySetResult(response);
        }
    }

    /// <summary>Reader: drops a message of the start entry before the start id; its permit counts as taken.</summary>
    private bool SkipBeforeStart(Message message)
    {
        Connection? refill = null;
        int permits = 0;
        lock (Sync)
        {
            if (message.Epoch != _epoch || !SkipLockedOnce(message.MessageId))
            {
                return false;
            }

            if (++_takenSinceFlow >= _refillThreshold && Current is { } current)
            {
                permits = _takenSinceFlow;
                _takenSinceFlow = 0;
                refill = current;
            }
        }

        refill?.Outbound.TryWrite(new ConsumeRequest { Flow = new Flow { Permits = permits } });
        return true;
    }

    /// <summary>Skips while before the start; the first message kept ends skipping for this stream.</summary>
    private bool SkipLockedOnce(MessageId id)
    {
        if (SkipLocked(id))
        {
            return true;
        }

        _skipThrough = null;
        return false;
    }

    /// <summary>
    /// One chunk of a chunked message (<see cref="ChunkedMessageAssembler"/>): the whole message once its last chunk
    /// arrived, else null. A chunk that yields no message gives its flow permit back at once, as Pulsar's consumer
    /// does, so a message of more chunks than the receiver queue still arrives.
    /// </summary>
    private Message? OnChunk(Connection connection, ReceivedMessage m)
    {
        var id = MessageId.FromProto(m.MessageId ?? new MessageIdData()).WithPartition(Partition);
        byte[]? payload = _chunks.Add(m, id, out var dropped);
        if (dropped.Ack is { Count: > 0 } ack)
        {
            Logger.LogInformation("Consumer {ConsumerName} on {Topic}: discarding {Count} chunks of incomplete messages",
                _consumerName, Topic, ack.Count);
            _ = AcknowledgeQuietlyAsync(ack);
        }

        if (payload is not null)
        {
            return ToMessage(m, connection.Epoch, payload);
        }

        GivePermitBack(connection);
        ArmChunkExpiry();
        return null;
    }

    private void GivePermitBack(Connection connection)
    {
        int permits = 0;
        lock (Sync)
        {
            if (connection.Epoch != _epoch || !ReferenceEquals(Current, connection))
            {
                return;
            }

            if (++_takenSinceFlow >= _refillThreshold)
            {
                permits = _takenSinceFlow;
                _takenSinceFlow = 0;
            }
        }

        if (permits > 0)
        {
            connection.Outbound.TryWrite(new ConsumeRequest { Flow = new Flow { Permits = permits } });
        }
    }

    private static readonly Action<object?> OnChunkExpiryCallback = static s => ((PartitionConsumer)s!).OnChunkExpiry();

    /// <summary>Schedules an expiry check of incomplete chunked messages while any is being assembled.</summary>
    private void ArmChunkExpiry()
    {
        if (_chunks.HasPending && Interlocked.CompareExchange(ref _chunkExpiryArmed, 1, 0) == 0)
        {
            var every = TimeSpan.FromTicks(Math.Max(TimeSpan.FromMilliseconds(100).Ticks,
                _options.ExpireTimeOfIncompleteChunkedMessage.Ticks / 4));
            DeadlineTimer.Shared.Schedule(every, OnChunkExpiryCallback, this);
        }
    }

    private void OnChunkExpiry()
    {
        Volatile.Write(ref _chunkExpiryArmed, 0);
        if (Closing.IsCancellationRequested)
        {
            return;
        }

        if (_chunks.Expire() is { Count: > 0 } expired)
        {
            Logger.LogInformation("Consumer {ConsumerName} on {Topic}: {Count} chunks of incomplete messages expired",
                _consumerName, Topic, expired.Count);
            _ = AcknowledgeQuietlyAsync(expired);
        }

        ArmChunkExpiry();
    }

    /// <summary>Acknowledges discarded chunks off the reader (an ack waits for an answer the reader delivers).</summary>
    private async Task AcknowledgeQuietlyAsync(List<MessageId> ids)
    {
        await Task.Yield();
        try
        {
            await AcknowledgeAsync(AckType.Individual, ids, CancellationToken.None).ConfigureAwait(false);
        }
        catch (Exception e) when (e is PulsarishClientException or OperationCanceledException)
        {
            // Redelivered after a reconnect and discarded again.
            Logger.LogDebug(e, "Consumer {ConsumerName}: acknowledging discarded chunks failed", _consumerName);
        }
    }

    private Message ToMessage(ReceivedMessage m, long epoch, byte[]? assembledPayload = null)
    {
        byte[] payload = assembledPayload ?? m.Payload.ToByteArray();
        Dictionary<string, string> properties = new(m.Properties.Count);
        foreach (var kv in m.Properties)
        {
            properties[kv.Key] = kv.Value;
        }

        var id = MessageId.FromProto(m.MessageId ?? new MessageIdData());
        return new Message(Topic, id.WithPartition(Partition).WithTopic(Topic), payload, m.HasKey ? m.Key : null, properties,
            DateTimeOffset.FromUnixTimeMilliseconds(m.PublishTimeMillis),
            m.EventTimeMillis > 0 ? DateTimeOffset.FromUnixTimeMilliseconds(m.EventTimeMillis) : null,
            m.ProducerName, m.SequenceId, m.RedeliveryCount, epoch);
    }

    /// <summary>Messages of the broken stream still queued are dropped (a new epoch); pending acks fail.</summary>
    protected override void OnDisconnectedLocked(Connection connection)
    {
        _epoch++;
        _chunks.Clear();
        foreach (var waiter in _ackWaiters.Values)
        {
            waiter.TrySetException(new PulsarishClientException(ErrorReason.ServiceNotReady,
                "disconnected before the ack was answered; the message will be redelivered"));
        }

        foreach (var waiter in _requestWaiters.Values)
        {
            waiter.TrySetResult(null);
        }
    }

    protected override void OnFailedForGood(Exception error) => _sink.TryComplete(error);

    /// <summary>Closes the stream; the broker redelivers this consumer's unacknowledged messages to others.</summary>
    public override ValueTask DisposeAsync() => new(CloseStreamAsync());
}
