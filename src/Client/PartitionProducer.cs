using System.Diagnostics;
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
/// The lookup/connect/reconnect loop is <see cref="ReconnectingStream{TRequest,TResponse}"/>'s.
/// </summary>
internal sealed class PartitionProducer : ReconnectingStream<ProduceRequest, ProduceResponse>
{
    private static readonly Action<object?> OnBatchTimerCallback = static s => ((PartitionProducer)s!).OnBatchTimer();
    private static readonly Action<object?> OnSendTimerCallback = static s => ((PartitionProducer)s!).OnSendTimer();

    /// <summary>Max message size assumed until a broker tells its own (Pulsar's and our broker's default).</summary>
    private const int DefaultMaxMessageSize = 5 * 1024 * 1024;

    /// <summary>Room left in a chunk's entry for the stored batch's own fields beyond the message's metadata.</summary>
    private const int ChunkEntryOverheadBytes = 256;

    private readonly ProducerOptions _options;
    private readonly SendGate _pendingPermits;
    private readonly CompressionType _compression;
    private readonly Queue<PendingBatch> _pending = new();
    private readonly List<ProducerMessage> _batchMessages = new();
    private readonly List<TaskCompletionSource<MessageId>> _batchCompletions = new();
    private string? _producerName;
    private long _nextSequenceId = -1;
    private int _batchBytes;
    private long _batchGeneration;
    private bool _batchTimerArmed;
    private long _batchStartedTimestamp;
    private bool _sendTimerArmed;
    private int _maxMessageSize = DefaultMaxMessageSize;
    private Exception? _failure;

    public PartitionProducer(PulsarishClient client, string topic, int partition, ProducerOptions options,
        SendGate pendingPermits)
        : base(client, topic, "Producer", "connected", client.CreateLogger<PartitionProducer>())
    {
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
    }

    public int Partition { get; }

    /// <summary>The broker-confirmed producer name (set once connected).</summary>
    public string ProducerName => _producerName ?? "";

    protected override string Name => ProducerName;

    /// <summary>Sequence id of the last message handed to <see cref="Enqueue"/>.</summary>
    public long LastSequenceId => Interlocked.Read(ref _nextSequenceId) - 1;

    /// <summary>
    /// Adds a message to the current batch. The caller (<see cref="SendGate"/>) already took one pending permit,
    /// released when the message completes or fails. Called in send order.
    /// </summary>
    public Task<MessageId> Enqueue(ProducerMessage wire)
    {
        var completion = new TaskCompletionSource<MessageId>(TaskCreationOptions.RunContinuationsAsynchronously);
        Exception? failure;
        lock (Sync)
        {
            failure = _failure;
            if (failure is null)
            {
                if (_options.EnableChunking && wire.Payload.Length > ChunkPayloadBytesLocked(wire))
                {
                    EnqueueChunksLocked(wire, completion);
                }
                else
                {
                    AddToBatchLocked(wire, completion);
                }
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

    /// <summary>Payload bytes of one chunk: the topic's max message size less the metadata, capped by ChunkMaxMessageSize.</summary>
    private int ChunkPayloadBytesLocked(ProducerMessage wire)
    {
        int metadata = wire.CalculateSize() - wire.Payload.Length + (_producerName?.Length ?? 0) * 2 + ChunkEntryOverheadBytes;
        int bytes = _maxMessageSize - metadata;
        if (_options.ChunkMaxMessageSize > 0)
        {
            bytes = Math.Min(bytes, _options.ChunkMaxMessageSize);
        }

        return Math.Max(1, bytes);
    }

    /// <summary>
    /// Splits a message above the chunk size into chunks (Pulsar's chunking): the open batch goes first, then each
    /// chunk is its own send with its own sequence id (so de-duplication drops resent chunks one by one) and the same
    /// uuid; only the last chunk's receipt completes the message, with that chunk's id. The chunks share the
    /// message's payload buffer (no copy).
    /// </summary>
    private void EnqueueChunksLocked(ProducerMessage wire, TaskCompletionSource<MessageId> completion)
    {
        FlushBatchLocked();
        int chunkBytes = ChunkPayloadBytesLocked(wire);
        var payload = wire.Payload.Memory;
        int total = payload.Length;
        int chunks = (total + chunkBytes - 1) / chunkBytes;
        string uuid = $"{ProducerName}-{_nextSequenceId}";
        for (int i = 0; i < chunks; i++)
        {
            int offset = i * chunkBytes;
            var chunk = wire.Clone();
            chunk.Payload = UnsafeByteOperations.UnsafeWrap(payload.Slice(offset, Math.Min(chunkBytes, total - offset)));
            chunk.Chunk = new ChunkInfo { Uuid = uuid, ChunkId = i, NumChunks = chunks, TotalSize = total };
            var send = new SendRequest { SequenceId = _nextSequenceId++, Compression = _compression };
            send.Messages.Add(chunk);
            var batch = new PendingBatch(new ProduceRequest { Send = send }, i == chunks - 1 ? [completion] : [], completion);
            _pending.Enqueue(batch);
            Current?.Outbound.TryWrite(batch.Request);
        }

        ArmSendTimeoutLocked();
    }

    private void AddToBatchLocked(ProducerMessage wire, TaskCompletionSource<MessageId> completion)
    {
        if (_batchMessages.Count == 0)
        {
            _batchStartedTimestamp = Stopwatch.GetTimestamp();
            ArmSendTimeoutLocked();
        }

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
        lock (Sync)
        {
            FlushBatchLocked();
            last = _pending.Count == 0 ? null : _pending.Last() is var tail && tail.Count > 0
                ? tail.Completions[^1].Task
                : tail.ChunkOwner?.Task;
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
        lock (Sync)
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
        Current?.Outbound.TryWrite(batch.Request);
        ArmSendTimeoutLocked();
    }

    /// <summary>Under the lock: makes sure a send-timeout check is due (at most one is scheduled at a time).</summary>
    private void ArmSendTimeoutLocked()
    {
        if (_sendTimerArmed || _options.SendTimeout <= TimeSpan.Zero || _failure is not null)
        {
            return;
        }

        _sendTimerArmed = true;
        DeadlineTimer.Shared.Schedule(_options.SendTimeout, OnSendTimerCallback, this);
    }

    /// <summary>
    /// The send-timeout check (Pulsar's ProducerImpl timer): when the oldest unacknowledged send is older than the
    /// timeout, every pending send fails with <see cref="ErrorReason.Timeout"/> — not only the oldest, so that no
    /// later send can be persisted ahead of the application's retry of an earlier one. Otherwise the check is due
    /// again when the oldest one would expire. The producer itself goes on.
    /// </summary>
    private void OnSendTimer()
    {
        List<PendingBatch> failed;
        List<TaskCompletionSource<MessageId>> open;
        lock (Sync)
        {
            _sendTimerArmed = false;
            long oldest;
            if (_pending.TryPeek(out var head))
            {
                oldest = head.CreatedTimestamp;
            }
            else if (_batchMessages.Count > 0)
            {
                oldest = _batchStartedTimestamp;
            }
            else
            {
                return;
            }

            var age = Stopwatch.GetElapsedTime(oldest);
            if (age < _options.SendTimeout || _failure is not null)
            {
                if (_failure is null)
                {
                    _sendTimerArmed = true;
                    DeadlineTimer.Shared.Schedule(_options.SendTimeout - age, OnSendTimerCallback, this);
                }

                return;
            }

            (failed, open) = TakeAllPendingLocked();
        }

        Logger.LogWarning("Producer {ProducerName} on {Topic}: {Count} sends not acknowledged within {SendTimeout}; failing them",
            _producerName, Topic, failed.Count + open.Count, _options.SendTimeout);
        var error = new PulsarishClientException(ErrorReason.Timeout,
            $"send to {Topic} not acknowledged within the send timeout {_options.SendTimeout}");
        // Off the timer thread: failing releases permits, which hands waiting sends to their producers — so the sends
        // still waiting for a permit to this producer fail first: they were made before the timeout too.
        _ = Task.Run(() =>
        {
            _pendingPermits.FailWaiting(this, error);
            FailTaken(failed, open, error);
        });
    }

    /// <summary>Under the lock: removes every pending batch and the open batch (their permits are still held).</summary>
    private (List<PendingBatch> Failed, List<TaskCompletionSource<MessageId>> Open) TakeAllPendingLocked()
    {
        var failed = new List<PendingBatch>(_pending);
        _pending.Clear();
        var open = new List<TaskCompletionSource<MessageId>>(_batchCompletions);
        _batchMessages.Clear();
        _batchCompletions.Clear();
        _batchBytes = 0;
        return (failed, open);
    }

    private void FailTaken(List<PendingBatch> failed, List<TaskCompletionSource<MessageId>> open, Exception error)
    {
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

    protected override AsyncDuplexStreamingCall<ProduceRequest, ProduceResponse> StartCall(
        PulsarishBroker.PulsarishBrokerClient broker, CancellationToken callToken)
        => broker.Produce(cancellationToken: callToken);

    protected override ProduceRequest OpenRequest() => new()
    {
        Open = new ProducerOpen
        {
            Topic = Topic,
            ProducerName = _producerName ?? "",
            AccessMode = (Protocol.Broker.ProducerAccessMode)(int)_options.EffectiveAccessMode,
        },
    };

    /// <summary>
    /// Takes the broker's first answer on a new Produce stream: resends every pending batch (before the stream
    /// becomes the current one, so they precede any new batch).
    /// </summary>
    protected override void OnOpenedLocked(Connection connection, ProduceResponse first)
    {
        if (first.ResponseCase == ProduceResponse.ResponseOneofCase.Error)
        {
            throw new PulsarishClientException(first.Error.Reason, first.Error.Message);
        }

        if (first.ResponseCase != ProduceResponse.ResponseOneofCase.Opened)
        {
            throw new PulsarishClientException(ErrorReason.BadRequest, $"broker answered {first.ResponseCase} to open");
        }

        _producerName = first.Opened.ProducerName;
        if (first.Opened.MaxMessageSize > 0)
        {
            _maxMessageSize = first.Opened.MaxMessageSize;
        }
        if (_nextSequenceId < 0)
        {
            _nextSequenceId = first.Opened.LastSequenceId + 1;
        }

        // Resend every unreceipted batch with its original sequence ids; the broker drops duplicates.
        foreach (var batch in _pending)
        {
            connection.Outbound.TryWrite(batch.Request);
        }
    }

    protected override void OnOpened(Connection connection)
        => Logger.LogInformation("Producer {ProducerName} connected to {Topic} on {Broker}", _producerName, Topic, connection.Address);

    protected override ValueTask<bool> OnResponseAsync(Connection connection, ProduceResponse response)
        => ValueTask.FromResult(response.ResponseCase switch
        {
            ProduceResponse.ResponseOneofCase.Receipt => OnReceipt(response.Receipt),
            ProduceResponse.ResponseOneofCase.Error => OnSendError(response.Error),
            _ => true,
        });

    /// <summary>Completes the head batch; false (reconnect) when the receipt does not match it.</summary>
    private bool OnReceipt(SendReceipt receipt)
    {
        PendingBatch? done = null;
        lock (Sync)
        {
            if (_pending.TryPeek(out var head))
            {
                if (head.FirstSequenceId == receipt.SequenceId)
                {
                    done = _pending.Dequeue();
                }
                else if (receipt.SequenceId > head.FirstSequenceId)
                {
                    Logger.LogWarning("Producer {ProducerName}: receipt for {SequenceId} while {Expected} is pending; reconnecting",
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
        if (error.Reason == ErrorReason.ProducerFenced)
        {
            // Another producer took the topic over (ExclusiveWithFencing): fail everything, never reconnect.
            Logger.LogWarning("Producer {ProducerName} on {Topic} was fenced: {Message}", _producerName, Topic, error.Message);
            FailAll(new PulsarishClientException(ErrorReason.ProducerFenced, error.Message));
            return false;
        }

        if (ErrorReasons.IsRetriable(error.Reason))
        {
            Logger.LogInformation("Producer {ProducerName}: send {SequenceId} failed with {Reason}; reconnecting",
                _producerName, error.SequenceId, error.Reason);
            return false;
        }

        PendingBatch? failed = null;
        List<PendingBatch>? siblings = null;
        lock (Sync)
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

            if (failed?.ChunkOwner is { } owner)
            {
                // The other chunks of that message are useless now: drop them (a consumer discards a partial message).
                var kept = new List<PendingBatch>(_pending.Count);
                foreach (var batch in _pending)
                {
                    if (ReferenceEquals(batch.ChunkOwner, owner))
                    {
                        (siblings ??= new()).Add(batch);
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
            var exception = new PulsarishClientException(error.Reason, error.Message);
            failed.Fail(exception);
            _pendingPermits.Release(failed.Count);
            foreach (var sibling in siblings ?? [])
            {
                sibling.Fail(exception);
                _pendingPermits.Release(sibling.Count);
            }
        }

        return true;
    }

    /// <summary>A producer that failed for good is not reconnected.</summary>
    protected override bool ShouldReconnectLocked => _failure is null;

    protected override void OnFailedForGood(Exception error)
        => FailAll(error as PulsarishClientException
                   ?? new PulsarishClientException(ErrorReason.UnknownError, error.Message, error));

    private void FailAll(Exception error)
    {
        List<PendingBatch> failed;
        List<TaskCompletionSource<MessageId>> open;
        lock (Sync)
        {
            _failure ??= error;
            (failed, open) = TakeAllPendingLocked();
        }

        FailTaken(failed, open, error);
    }

    /// <summary>WaitForExclusive: the broker answers the open only once the topic is free, so no timeout bounds it.</summary>
    protected override TimeSpan ConnectTimeout => _options.EffectiveAccessMode == ProducerAccessMode.WaitForExclusive
        ? Timeout.InfiniteTimeSpan
        : base.ConnectTimeout;

    /// <summary>Flushes and waits (up to the operation timeout) for pending messages, then closes the stream.</summary>
    public override async ValueTask DisposeAsync()
    {
        if (Closing.IsCancellationRequested)
        {
            return;
        }

        using (var timeout = new CancellationTokenSource(Client.Options.OperationTimeout))
        {
            try
            {
                await FlushAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                Logger.LogWarning("Producer {ProducerName}: pending messages not receipted before close", _producerName);
            }
        }

        await CloseStreamAsync().ConfigureAwait(false);
        FailAll(new PulsarishClientException(ErrorReason.ServiceNotReady, $"producer on {Topic} is closed"));
    }
}
