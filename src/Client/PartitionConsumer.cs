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
/// </summary>
internal sealed class PartitionConsumer : ReconnectingStream<ConsumeRequest, ConsumeResponse>
{
    private readonly ConsumerOptions _options;
    private readonly ChannelWriter<Message> _sink;
    private readonly ConcurrentDictionary<ulong, TaskCompletionSource<bool>> _ackWaiters = new();
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

    public PartitionConsumer(PulsarishClient client, string topic, int partition, ConsumerOptions options,
        ChannelWriter<Message> sink)
        : base(client, topic, "Consumer", "subscribed", client.CreateLogger<PartitionConsumer>())
    {
        Partition = partition;
        _options = options;
        _sink = sink;
        _consumerName = options.ConsumerName;
        _refillThreshold = Math.Max(1, options.ReceiverQueueSize / 2);
        _chunks = new ChunkedMessageAssembler(options);
    }

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
    /// Resets the subscription, then reconnects so that queued messages of the old position are dropped (Pulsar's
    /// broker disconnects consumers on seek likewise). Completes once subscribed again.
    /// </summary>
    public async Task SeekAsync(Seek seek, CancellationToken ct)
    {
        Task connected;
        var connection = CurrentConnection();
        lock (Sync)
        {
            connected = _connected.Task;
        }

        connection.LastError = null;
        if (!connection.Outbound.TryWrite(new ConsumeRequest { Seek = seek }))
        {
            throw NotConnected();
        }

        // The broker handles the seek before it sees the end of the request stream; an error it reports for the seek
        // arrives before that stream ends, so before the resubscription completes.
        connection.Outbound.Complete();
        try
        {
            await connected.WaitAsync(Client.Options.OperationTimeout, ct).ConfigureAwait(false);
            if (connection.LastError is { } refused)
            {
                throw refused;
            }
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

    protected override ConsumeRequest OpenRequest() => new()
    {
        Subscribe = new Subscribe
        {
            Topic = Topic,
            Subscription = _options.SubscriptionName,
            Type = (Protocol.Broker.SubscriptionType)(int)_options.SubscriptionType,
            InitialPosition = _options.InitialPosition == SubscriptionInitialPosition.Earliest
                ? InitialPosition.Earliest
                : InitialPosition.Latest,
            ConsumerName = _consumerName ?? "",
            PriorityLevel = _options.PriorityLevel,
        },
    };

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
                if (OnChunk(connection, response.Message) is { } assembled)
                {
                    await _sink.WriteAsync(assembled, connection.Token).ConfigureAwait(false);
                }

                break;
            case ConsumeResponse.ResponseOneofCase.Message:
                await _sink.WriteAsync(ToMessage(response.Message, connection.Epoch), connection.Token).ConfigureAwait(false);
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
        return new Message(Topic, id.WithPartition(Partition), payload, m.HasKey ? m.Key : null, properties,
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
    }

    protected override void OnFailedForGood(Exception error) => _sink.TryComplete(error);

    /// <summary>Closes the stream; the broker redelivers this consumer's unacknowledged messages to others.</summary>
    public override ValueTask DisposeAsync() => new(CloseStreamAsync());
}
