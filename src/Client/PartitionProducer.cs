using Google.Protobuf;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Pulsarish.Client;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Client;

/// <summary>
/// The producer of one topic (or one partition): batches messages, keeps every batch that is not yet receipted,
/// and owns the Produce stream. After a disconnect it looks the topic up again, reopens the stream under the same
/// producer name and resends the pending batches with their original sequence ids, so the broker's
/// de-duplication drops what it already persisted (DESIGN.md §8). Receipts complete messages strictly in order.
/// </summary>
internal sealed class PartitionProducer : IAsyncDisposable
{
    private static readonly Action<object?> OnBatchTimerCallback = static s => ((PartitionProducer)s!).OnBatchTimer();

    private readonly PulsarishClient _client;
    private readonly ProducerOptions _options;
    private readonly SendGate _pendingPermits;
    private readonly CompressionType _compression;
    private readonly ILogger _logger;
    private readonly object _lock = new();
    private readonly Queue<PendingBatch> _pending = new();
    private readonly List<ProducerMessage> _batchMessages = new();
    private readonly List<TaskCompletionSource<MessageId>> _batchCompletions = new();
    private readonly CancellationTokenSource _closing = new();
    private Connection? _connection;
    private Task _reconnect = Task.CompletedTask;
    private string? _producerName;
    private long _nextSequenceId = -1;
    private int _batchBytes;
    private long _batchGeneration;
    private bool _batchTimerArmed;
    private Exception? _failure;

    public PartitionProducer(PulsarishClient client, string topic, int partition, ProducerOptions options,
        SendGate pendingPermits)
    {
        _client = client;
        Topic = topic;
        Partition = partition;
        _options = options;
        _pendingPermits = pendingPermits;
        _producerName = options.ProducerName;
        _compression = options.Compression switch
        {
            MessageCompression.GZip => CompressionType.Gzip,
            MessageCompression.Brotli => CompressionType.Brotli,
            _ => CompressionType.NoCompression,
        };
        _logger = client.CreateLogger<PartitionProducer>();
    }

    public string Topic { get; }

    public int Partition { get; }

    /// <summary>The broker-confirmed producer name (set once connected).</summary>
    public string ProducerName => _producerName ?? "";

    /// <summary>Sequence id of the last message handed to <see cref="Enqueue"/>.</summary>
    public long LastSequenceId => Interlocked.Read(ref _nextSequenceId) - 1;

    /// <summary>Connects for the first time (errors propagate: nothing to retry yet).</summary>
    public Task ConnectAsync(CancellationToken ct) => StreamHandshake.ConnectWithinAsync(
        ConnectOnceAsync, _client.Options.OperationTimeout,
        $"producer on {Topic} not connected within {_client.Options.OperationTimeout}", ct);

    /// <summary>
    /// Adds a message to the current batch. The caller (<see cref="SendGate"/>) already took one pending permit,
    /// released when the message completes or fails. Called in send order.
    /// </summary>
    public Task<MessageId> Enqueue(ProducerMessage wire)
    {
        var completion = new TaskCompletionSource<MessageId>(TaskCreationOptions.RunContinuationsAsynchronously);
        Exception? failure;
        lock (_lock)
        {
            failure = _failure;
            if (failure is null)
            {
                AddToBatchLocked(wire, completion);
            }
        }

        if (failure is not null)
        {
            // Released outside this producer's lock: the gate may hand the permit to a waiting send.
            _pendingPermits.Release();
            return Task.FromException<MessageId>(failure);
        }

        return completion.Task;
    }

    /// <summary>The wire form of a message (the payload is copied).</summary>
    public static ProducerMessage ToWire(OutgoingMessage message)
    {
        var wire = new ProducerMessage
        {
            Payload = ByteString.CopyFrom(message.Payload.Span),
            EventTimeMillis = message.EventTime?.ToUnixTimeMilliseconds() ?? 0,
        };
        if (message.Key is not null)
        {
            wire.Key = message.Key;
            wire.HasKey = true;
        }

        if (message.Properties is not null)
        {
            foreach (var (key, value) in message.Properties)
            {
                wire.Properties.Add(new KeyValue { Key = key, Value = value });
            }
        }

        return wire;
    }

    private void AddToBatchLocked(ProducerMessage wire, TaskCompletionSource<MessageId> completion)
    {
        _batchMessages.Add(wire);
        _batchCompletions.Add(completion);
        _batchBytes += wire.Payload.Length;
        if (!_options.BatchingEnabled || _batchMessages.Count >= _options.BatchingMaxMessages
            || _batchBytes >= _options.BatchingMaxBytes)
        {
            FlushBatchLocked();
        }
        else if (!_batchTimerArmed)
        {
            _batchTimerArmed = true;
            // A System.Threading.Timer fires a 1 ms delay ~4 ms late here; the deadline timer keeps the window.
            DeadlineTimer.Shared.Schedule(_options.BatchingMaxPublishDelay, OnBatchTimerCallback, this);
        }
    }

    /// <summary>Sends the open batch now and waits until every message handed over so far is receipted.</summary>
    public async Task FlushAsync(CancellationToken ct)
    {
        Task? last;
        lock (_lock)
        {
            FlushBatchLocked();
            last = _pending.Count == 0 ? null : _pending.Last().Completions[^1].Task;
        }

        if (last is not null)
        {
            try
            {
                await last.WaitAsync(ct).ConfigureAwait(false);
            }
            catch (PulsarishClientException)
            {
                // Reported to that message's sender.
            }
        }
    }

    private void OnBatchTimer()
    {
        lock (_lock)
        {
            _batchTimerArmed = false;
            FlushBatchLocked();
        }
    }

    private void FlushBatchLocked()
    {
        int count = _batchMessages.Count;
        if (count == 0)
        {
            return;
        }

        var send = new SendRequest { SequenceId = _nextSequenceId, Compression = _compression };
        send.Messages.AddRange(_batchMessages);
        _nextSequenceId += count;
        var batch = new PendingBatch(new ProduceRequest { Send = send }, _batchCompletions.ToArray());
        _batchMessages.Clear();
        _batchCompletions.Clear();
        _batchBytes = 0;
        _batchGeneration++;
        _pending.Enqueue(batch);
        _connection?.Outbound.TryWrite(batch.Request);
    }

    /// <summary>One attempt: lookup, open the stream, wait for <c>opened</c>, resend pending batches in order.</summary>
    private async Task ConnectOnceAsync(CancellationToken ct)
    {
        _closing.Token.ThrowIfCancellationRequested();
        string address = await _client.LookupAsync(Topic, ct).ConfigureAwait(false);
        var broker = _client.BrokerFor(address);
        var callCancel = CancellationTokenSource.CreateLinkedTokenSource(_closing.Token);
        var call = broker.Produce(cancellationToken: callCancel.Token);
        var outbound = new OutboundStream<ProduceRequest>(call.RequestStream);
        var connection = new Connection(call, outbound, callCancel, address);
        await StreamHandshake.OpenAsync(call.ResponseStream, callCancel,
            () => outbound.TryWrite(new ProduceRequest
            {
                Open = new ProducerOpen
                {
                    Topic = Topic,
                    ProducerName = _producerName ?? "",
                    AccessMode = _options.ExclusiveAccess ? ProducerAccessMode.Exclusive : ProducerAccessMode.Shared,
                },
            }),
            first => OnOpened(connection, first, address), connection.Abort,
            $"broker {address} closed the producer stream", ct).ConfigureAwait(false);
    }

    /// <summary>
    /// Takes the broker's first answer on a new Produce stream: resends every pending batch and makes the stream
    /// the current one.
    /// </summary>
    private void OnOpened(Connection connection, ProduceResponse first, string address)
    {
        if (first.ResponseCase == ProduceResponse.ResponseOneofCase.Error)
        {
            throw new PulsarishClientException(first.Error.Reason, first.Error.Message);
        }

        if (first.ResponseCase != ProduceResponse.ResponseOneofCase.Opened)
        {
            throw new PulsarishClientException(ErrorReason.BadRequest, $"broker answered {first.ResponseCase} to open");
        }

        lock (_lock)
        {
            _closing.Token.ThrowIfCancellationRequested();
            _producerName = first.Opened.ProducerName;
            if (_nextSequenceId < 0)
            {
                _nextSequenceId = first.Opened.LastSequenceId + 1;
            }

            // Resend every unreceipted batch with its original sequence ids; the broker drops duplicates.
            foreach (var batch in _pending)
            {
                connection.Outbound.TryWrite(batch.Request);
            }

            _connection = connection;
        }

        _logger.LogInformation("Producer {ProducerName} connected to {Topic} on {Broker}", _producerName, Topic, address);
        _ = Task.Run(() => ReadReceiptsAsync(connection));
    }

    private async Task ReadReceiptsAsync(Connection connection)
    {
        Exception? error = null;
        try
        {
            var stream = connection.Call.ResponseStream;
            while (await stream.MoveNext(CancellationToken.None).ConfigureAwait(false))
            {
                var response = stream.Current;
                switch (response.ResponseCase)
                {
                    case ProduceResponse.ResponseOneofCase.Receipt:
                        if (!OnReceipt(response.Receipt))
                        {
                            return;
                        }

                        break;
                    case ProduceResponse.ResponseOneofCase.Error:
                        if (!OnSendError(response.Error))
                        {
                            return;
                        }

                        break;
                }
            }
        }
        catch (RpcException e)
        {
            error = ErrorReasons.ToClientException(e);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or OperationCanceledException)
        {
            error = e;
        }
        finally
        {
            OnDisconnected(connection, error);
        }
    }

    /// <summary>Completes the head batch; false (reconnect) when the receipt does not match it.</summary>
    private bool OnReceipt(SendReceipt receipt)
    {
        PendingBatch? done = null;
        lock (_lock)
        {
            if (_pending.TryPeek(out var head))
            {
                if (head.FirstSequenceId == receipt.SequenceId)
                {
                    done = _pending.Dequeue();
                }
                else if (receipt.SequenceId > head.FirstSequenceId)
                {
                    _logger.LogWarning("Producer {ProducerName}: receipt for {SequenceId} while {Expected} is pending; reconnecting",
                        _producerName, receipt.SequenceId, head.FirstSequenceId);
                    return false;
                }
            }
        }

        if (done is not null)
        {
            done.Complete(receipt.MessageId, Partition);
            _pendingPermits.Release(done.Count);
        }

        return true;
    }

    /// <summary>
    /// A send failed. Retriable reasons (storage, ownership) reconnect and resend; others fail that batch only and
    /// the stream goes on.
    /// </summary>
    private bool OnSendError(SendError error)
    {
        if (ErrorReasons.IsRetriable(error.Reason))
        {
            _logger.LogInformation("Producer {ProducerName}: send {SequenceId} failed with {Reason}; reconnecting",
                _producerName, error.SequenceId, error.Reason);
            return false;
        }

        PendingBatch? failed = null;
        lock (_lock)
        {
            if (_pending.TryPeek(out var head) && head.FirstSequenceId == error.SequenceId)
            {
                failed = _pending.Dequeue();
            }
            else
            {
                var kept = new List<PendingBatch>(_pending.Count);
                foreach (var batch in _pending)
                {
                    if (failed is null && batch.FirstSequenceId == error.SequenceId)
                    {
                        failed = batch;
                    }
                    else
                    {
                        kept.Add(batch);
                    }
                }

                _pending.Clear();
                foreach (var batch in kept)
                {
                    _pending.Enqueue(batch);
                }
            }
        }

        if (failed is not null)
        {
            failed.Fail(new PulsarishClientException(error.Reason, error.Message));
            _pendingPermits.Release(failed.Count);
        }

        return true;
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
            if (_closing.IsCancellationRequested || _failure is not null)
            {
                return;
            }

            _logger.LogInformation(error, "Producer {ProducerName} on {Topic} disconnected; reconnecting", _producerName, Topic);
            _reconnect = Task.Run(ReconnectAsync);
        }
    }

    /// <summary>Reconnects with backoff until it works, the producer closes, or a non-retriable error ends it.</summary>
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
            _logger.LogError(e, "Producer {ProducerName} on {Topic} failed for good", _producerName, Topic);
            FailAll(e as PulsarishClientException
                    ?? new PulsarishClientException(ErrorReason.UnknownError, e.Message, e));
        }
    }

    private void FailAll(Exception error)
    {
        List<PendingBatch> failed;
        List<TaskCompletionSource<MessageId>> open;
        lock (_lock)
        {
            _failure ??= error;
            failed = new List<PendingBatch>(_pending);
            _pending.Clear();
            open = new List<TaskCompletionSource<MessageId>>(_batchCompletions);
            _batchMessages.Clear();
            _batchCompletions.Clear();
            _batchBytes = 0;
        }

        foreach (var batch in failed)
        {
            batch.Fail(error);
            _pendingPermits.Release(batch.Count);
        }

        foreach (var completion in open)
        {
            completion.TrySetException(error);
            _pendingPermits.Release();
        }
    }

    /// <summary>Flushes and waits (up to the operation timeout) for pending messages, then closes the stream.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_closing.IsCancellationRequested)
        {
            return;
        }

        using (var timeout = new CancellationTokenSource(_client.Options.OperationTimeout))
        {
            try
            {
                await FlushAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                _logger.LogWarning("Producer {ProducerName}: pending messages not receipted before close", _producerName);
            }
        }

        Connection? connection;
        lock (_lock)
        {
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
        FailAll(new PulsarishClientException(ErrorReason.ServiceNotReady, $"producer on {Topic} is closed"));
    }

    /// <summary>One Produce stream with its writer.</summary>
    private sealed class Connection(
        AsyncDuplexStreamingCall<ProduceRequest, ProduceResponse> call,
        OutboundStream<ProduceRequest> outbound,
        CancellationTokenSource cancel,
        string address)
    {
        private int _aborted;

        public AsyncDuplexStreamingCall<ProduceRequest, ProduceResponse> Call { get; } = call;
        public OutboundStream<ProduceRequest> Outbound { get; } = outbound;
        public string Address { get; } = address;

        public void Abort()
        {
            if (Interlocked.Exchange(ref _aborted, 1) != 0)
            {
                return;
            }

            Outbound.Complete();
            cancel.Cancel();
            Call.Dispose();
            cancel.Dispose();
        }
    }
}
