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
/// after a disconnect (Pulsar clears its receiver queue likewise).
/// </summary>
internal sealed class PartitionConsumer : IAsyncDisposable
{
    private readonly PulsarishClient _client;
    private readonly ConsumerOptions _options;
    private readonly ChannelWriter<Message> _sink;
    private readonly ILogger _logger;
    private readonly object _lock = new();
    private readonly ConcurrentDictionary<ulong, TaskCompletionSource<bool>> _ackWaiters = new();
    private readonly CancellationTokenSource _closing = new();
    private readonly int _refillThreshold;
    private Connection? _connection;

    /// <summary>Completed by the next successful (re)subscription, then replaced.</summary>
    private TaskCompletionSource _connected = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Task _reconnect = Task.CompletedTask;
    private long _epoch;
    private int _takenSinceFlow;
    private long _nextRequestId;
    private string? _consumerName;

    public PartitionConsumer(PulsarishClient client, string topic, int partition, ConsumerOptions options,
        ChannelWriter<Message> sink)
    {
        _client = client;
        Topic = topic;
        Partition = partition;
        _options = options;
        _sink = sink;
        _consumerName = options.ConsumerName;
        _refillThreshold = Math.Max(1, options.ReceiverQueueSize / 2);
        _logger = client.CreateLogger<PartitionConsumer>();
    }

    public string Topic { get; }

    public int Partition { get; }

    /// <summary>Raised when the broker makes this consumer the active one (true) or not (false) — Failover.</summary>
    public event Action<bool>? ActiveChanged;

    /// <summary>The broker-confirmed consumer name.</summary>
    public string ConsumerName => _consumerName ?? "";

    public Task ConnectAsync(CancellationToken ct) => StreamHandshake.ConnectWithinAsync(
        ConnectOnceAsync, _client.Options.OperationTimeout,
        $"consumer on {Topic} not subscribed within {_client.Options.OperationTimeout}", ct);

    /// <summary>
    /// Accounts one message taken by the application: false when it belongs to an older connection (dropped:
    /// it is redelivered). Grants permits again once half the receiver queue was taken.
    /// </summary>
    public bool OnTaken(Message message)
    {
        Connection? refill = null;
        int permits = 0;
        lock (_lock)
        {
            if (message.Epoch != _epoch)
            {
                return false;
            }

            if (++_takenSinceFlow >= _refillThreshold && _connection is not null)
            {
                permits = _takenSinceFlow;
                _takenSinceFlow = 0;
                refill = _connection;
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
        foreach (var id in ids)
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

            await waiter.Task.WaitAsync(_client.Options.OperationTimeout, ct).ConfigureAwait(false);
        }
        catch (TimeoutException e)
        {
            throw new PulsarishClientException(ErrorReason.ServiceNotReady,
                $"no ack response within {_client.Options.OperationTimeout}", e);
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
        foreach (var id in ids)
        {
            nack.MessageIds.Add(id.ToProto());
        }

        Volatile.Read(ref _connection)?.Outbound.TryWrite(new ConsumeRequest { NegativeAck = nack });
    }

    /// <summary>Asks for redelivery of every unacknowledged message of this consumer.</summary>
    public void RedeliverUnacknowledged()
        => Volatile.Read(ref _connection)?.Outbound.TryWrite(new ConsumeRequest { Redeliver = new RedeliverUnacknowledged() });

    /// <summary>
    /// Resets the subscription, then reconnects so that queued messages of the old position are dropped (Pulsar's
    /// broker disconnects consumers on seek likewise). Completes once subscribed again.
    /// </summary>
    public async Task SeekAsync(Seek seek, CancellationToken ct)
    {
        Task connected;
        var connection = CurrentConnection();
        lock (_lock)
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
            await connected.WaitAsync(_client.Options.OperationTimeout, ct).ConfigureAwait(false);
            if (connection.LastError is { } refused)
            {
                throw refused;
            }
        }
        catch (TimeoutException e)
        {
            throw new PulsarishClientException(ErrorReason.ServiceNotReady,
                $"consumer on {Topic} not resubscribed within {_client.Options.OperationTimeout} after seek", e);
        }
    }

    private Connection CurrentConnection()
        => Volatile.Read(ref _connection) ?? throw NotConnected();

    private PulsarishClientException NotConnected()
        => new(ErrorReason.ServiceNotReady, $"consumer on {Topic} is not connected (reconnecting)");

    private async Task ConnectOnceAsync(CancellationToken ct)
    {
        _closing.Token.ThrowIfCancellationRequested();
        string address = await _client.LookupAsync(Topic, ct).ConfigureAwait(false);
        var broker = _client.BrokerFor(address);
        var callCancel = CancellationTokenSource.CreateLinkedTokenSource(_closing.Token);
        var call = broker.Consume(cancellationToken: callCancel.Token);
        var connection = new Connection(call, new OutboundStream<ConsumeRequest>(call.RequestStream), callCancel);
        await StreamHandshake.OpenAsync(call.ResponseStream, callCancel,
            () => connection.Outbound.TryWrite(new ConsumeRequest
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
            }),
            first => OnSubscribed(connection, first, address), connection.Abort,
            $"broker {address} closed the consumer stream", ct).ConfigureAwait(false);
    }

    /// <summary>Takes the broker's first answer on a new Consume stream: the stream becomes the current one.</summary>
    private void OnSubscribed(Connection connection, ConsumeResponse first, string address)
    {
        if (first.ResponseCase == ConsumeResponse.ResponseOneofCase.Error)
        {
            throw new PulsarishClientException(first.Error.Reason, first.Error.Message);
        }

        if (first.ResponseCase != ConsumeResponse.ResponseOneofCase.Subscribed)
        {
            throw new PulsarishClientException(ErrorReason.BadRequest, $"broker answered {first.ResponseCase} to subscribe");
        }

        TaskCompletionSource connected;
        lock (_lock)
        {
            _closing.Token.ThrowIfCancellationRequested();
            _consumerName = first.Subscribed.ConsumerName;
            connection.Epoch = ++_epoch;
            _takenSinceFlow = 0;
            _connection = connection;
            connected = _connected;
            _connected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }

        connection.Outbound.TryWrite(new ConsumeRequest { Flow = new Flow { Permits = _options.ReceiverQueueSize } });
        _logger.LogInformation("Consumer {ConsumerName} subscribed to {Topic} ({Subscription}) on {Broker}",
            _consumerName, Topic, _options.SubscriptionName, address);
        _ = Task.Run(() => ReadAsync(connection));
        connected.TrySetResult();
    }

    private async Task ReadAsync(Connection connection)
    {
        Exception? error = null;
        try
        {
            var stream = connection.Call.ResponseStream;
            var token = connection.Token;
            while (await stream.MoveNext(token).ConfigureAwait(false))
            {
                var response = stream.Current;
                switch (response.ResponseCase)
                {
                    case ConsumeResponse.ResponseOneofCase.Message:
                        await _sink.WriteAsync(ToMessage(response.Message, connection.Epoch), token).ConfigureAwait(false);

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
                        _logger.LogWarning("Consumer {ConsumerName} on {Topic}: broker error {Reason}: {Message}",
                            _consumerName, Topic, response.Error.Reason, response.Error.Message);
                        break;
                }
            }
        }
        catch (RpcException e)
        {
            error = ErrorReasons.ToClientException(e);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or OperationCanceledException
                                      or ChannelClosedException)
        {
            error = e;
        }
        finally
        {
            OnDisconnected(connection, error);
        }
    }

    private Message ToMessage(ReceivedMessage m, long epoch)
    {
        byte[] payload = m.Payload.ToByteArray();
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

    private void OnDisconnected(Connection connection, Exception? error)
    {
        connection.Abort();
        lock (_lock)
        {
            if (!ReferenceEquals(_connection, connection))
            {
                return;
            }

            _connection = null;
            _epoch++;
            foreach (var waiter in _ackWaiters.Values)
            {
                waiter.TrySetException(new PulsarishClientException(ErrorReason.ServiceNotReady,
                    "disconnected before the ack was answered; the message will be redelivered"));
            }

            if (_closing.IsCancellationRequested)
            {
                return;
            }

            _logger.LogInformation(error, "Consumer {ConsumerName} on {Topic} disconnected; reconnecting", _consumerName, Topic);
            _reconnect = Task.Run(ReconnectAsync);
        }
    }

    private async Task ReconnectAsync()
    {
        try
        {
            await _client.ReconnectPipeline.ExecuteAsync(
                static async (self, token) => await self.ConnectOnceAsync(token).ConfigureAwait(false),
                this, _closing.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (_closing.IsCancellationRequested)
        {
            // Closed while reconnecting.
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _logger.LogError(e, "Consumer {ConsumerName} on {Topic} failed for good", _consumerName, Topic);
            _sink.TryComplete(e);
        }
    }

    /// <summary>Closes the stream; the broker redelivers this consumer's unacknowledged messages to others.</summary>
    public async ValueTask DisposeAsync()
    {
        Connection? connection;
        lock (_lock)
        {
            if (_closing.IsCancellationRequested)
            {
                return;
            }

            _closing.Cancel();
            connection = _connection;
            _connection = null;
        }

        if (connection is not null)
        {
            connection.Outbound.Complete();
            try
            {
                await connection.Outbound.Completion.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Aborted below.
            }

            connection.Abort();
        }

        await _reconnect.ConfigureAwait(false);
    }

    /// <summary>One Consume stream with its writer.</summary>
    private sealed class Connection(
        AsyncDuplexStreamingCall<ConsumeRequest, ConsumeResponse> call,
        OutboundStream<ConsumeRequest> outbound,
        CancellationTokenSource cancel)
    {
        private int _aborted;

        public AsyncDuplexStreamingCall<ConsumeRequest, ConsumeResponse> Call { get; } = call;
        public OutboundStream<ConsumeRequest> Outbound { get; } = outbound;
        public CancellationToken Token { get; } = cancel.Token;
        public long Epoch { get; set; }

        /// <summary>The last error the broker reported on this stream (e.g. a refused seek).</summary>
        public PulsarishClientException? LastError { get; set; }

        public void Abort()
        {
            if (Interlocked.Exchange(ref _aborted, 1) != 0)
            {
                return;
            }

            Outbound.Complete();
            cancel.Cancel();
            Call.Dispose();
        }
    }
}
