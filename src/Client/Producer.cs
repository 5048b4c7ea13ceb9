using Pulsarish.Protocol.Broker;

namespace Pulsarish.Client;

/// <summary>
/// Publishes to a topic. <see cref="SendAsync(OutgoingMessage, CancellationToken)"/> completes when the broker
/// persisted the message (receipt), strictly in send order per partition; it waits for room when
/// <see cref="ProducerOptions.MaxPendingMessages"/> messages are in flight. A partitioned topic gets one internal
/// producer per partition; messages are routed by explicit partition, else key hash (Murmur3 over the UTF-8 key),
/// else <see cref="ProducerOptions.RoutingMode"/>. Reconnects transparently. Thread-safe.
/// </summary>
public sealed class Producer : IAsyncDisposable
{
    private readonly PulsarishClient _client;
    private readonly PartitionProducer[] _partitions;
    private readonly SendGate _pendingPermits;
    private readonly int _singlePartition;
    private int _roundRobin;
    private int _closed;

    private Producer(PulsarishClient client, string topic, PartitionProducer[] partitions, SendGate permits,
        ProducerOptions options)
    {
        _client = client;
        Topic = topic;
        _partitions = partitions;
        _pendingPermits = permits;
        Options = options;
        _singlePartition = Random.Shared.Next(partitions.Length);
        _roundRobin = Random.Shared.Next(partitions.Length);
    }

    /// <summary>The full topic name.</summary>
    public string Topic { get; }

    public ProducerOptions Options { get; }

    /// <summary>Number of partitions (0 for a non-partitioned topic).</summary>
    public int Partitions => IsPartitioned ? _partitions.Length : 0;

    /// <summary>The producer's name as confirmed by the broker (of partition 0 for a partitioned topic).</summary>
    public string Name => _partitions[0].ProducerName;

    private bool IsPartitioned => _partitions[0].Partition >= 0;

    internal static async Task<Producer> CreateAsync(PulsarishClient client, ProducerOptions options, CancellationToken ct)
    {
        string topic = TopicNames.Complete(options.Topic);
        int partitions = await client.GetPartitionCountAsync(topic, ct).ConfigureAwait(false);
        var permits = new SendGate(options.MaxPendingMessages);
        var producers = new PartitionProducer[Math.Max(1, partitions)];
        for (int i = 0; i < producers.Length; i++)
        {
            var partitionOptions = options;
            if (partitions > 0 && options.ProducerName is not null)
            {
                partitionOptions = Clone(options, $"{options.ProducerName}-{i}");
            }

            producers[i] = partitions == 0
                ? new PartitionProducer(client, topic, -1, partitionOptions, permits)
                : new PartitionProducer(client, TopicNames.Partition(topic, i), i, partitionOptions, permits);
        }

        var tasks = new Task[producers.Length];
        for (int i = 0; i < producers.Length; i++)
        {
            tasks[i] = producers[i].ConnectAsync(ct);
        }

        try
        {
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        catch
        {
            foreach (var producer in producers)
            {
                await producer.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }

        return new Producer(client, topic, producers, permits, options);
    }

    /// <summary>Sends <paramref name="payload"/> with an optional key and properties.</summary>
    public Task<MessageId> SendAsync(ReadOnlyMemory<byte> payload, string? key = null,
        IReadOnlyDictionary<string, string>? properties = null, CancellationToken ct = default)
        => SendAsync(new OutgoingMessage(payload) { Key = key, Properties = properties }, ct);

    /// <summary>
    /// Sends a message; completes with its id once persisted. Cancelling stops the wait for room or for the receipt;
    /// a message already handed to the batch may still be published. A message resent after a reconnect that the
    /// broker had already persisted completes with <see cref="MessageId.LedgerId"/> -1 (the broker de-duplicated it).
    /// Fails with <see cref="ErrorReason.Timeout"/> when not acknowledged within <see cref="ProducerOptions.SendTimeout"/>
    /// and with <see cref="ErrorReason.ProducerFenced"/> once an ExclusiveWithFencing producer took the topic over.
    /// </summary>
    public async Task<MessageId> SendAsync(OutgoingMessage message, CancellationToken ct = default)
    {
        // The message takes its place in the send order synchronously, before the first await.
        var sent = Send(message, ct);
        return await sent.ConfigureAwait(false);
    }

    private Task<MessageId> Send(OutgoingMessage message, CancellationToken ct)
    {
        ArgumentNullException.ThrowIfNull(message);
        ObjectDisposedException.ThrowIf(Volatile.Read(ref _closed) != 0, this);
        var target = _partitions[ChoosePartition(message)];
        var sent = _pendingPermits.SendAsync(target, PartitionProducer.ToWire(message), ct);
        return ct.CanBeCanceled ? sent.WaitAsync(ct) : sent;
    }

    /// <summary>Sends the open batches now and waits until everything sent so far is receipted (or failed).</summary>
    public async Task FlushAsync(CancellationToken ct = default)
    {
        var tasks = new Task[_partitions.Length];
        for (int i = 0; i < tasks.Length; i++)
        {
            tasks[i] = _partitions[i].FlushAsync(ct);
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
    }

    /// <summary>Sequence id of the last message sent on the (first) partition, -1 if none.</summary>
    public long LastSequenceId => _partitions[0].LastSequenceId;

    private int ChoosePartition(OutgoingMessage message)
    {
        int n = _partitions.Length;
        if (n == 1)
        {
            return 0;
        }

        if (message.Partition is int explicitPartition)
        {
            if ((uint)explicitPartition >= (uint)n)
            {
                throw new PulsarishClientException(ErrorReason.BadRequest,
                    $"partition {explicitPartition} out of range: {Topic} has {n} partitions");
            }

            return explicitPartition;
        }

        if (message.Key is not null)
        {
            return (int)(Murmur3.HashUtf8(message.Key) % (uint)n);
        }

        return Options.RoutingMode == MessageRoutingMode.SinglePartition
            ? _singlePartition
            : (int)((uint)Interlocked.Increment(ref _roundRobin) % (uint)n);
    }

    private static ProducerOptions Clone(ProducerOptions o, string name) => new()
    {
        Topic = o.Topic,
        ProducerName = name,
        BatchingEnabled = o.BatchingEnabled,
        BatchingMaxMessages = o.BatchingMaxMessages,
        BatchingMaxBytes = o.BatchingMaxBytes,
        BatchingMaxPublishDelay = o.BatchingMaxPublishDelay,
        Compression = o.Compression,
        MaxPendingMessages = o.MaxPendingMessages,
        RoutingMode = o.RoutingMode,
        ExclusiveAccess = o.ExclusiveAccess,
        AccessMode = o.AccessMode,
        SendTimeout = o.SendTimeout,
        EnableChunking = o.EnableChunking,
        ChunkMaxMessageSize = o.ChunkMaxMessageSize,
    };

    /// <summary>Flushes, waits for pending receipts (up to the operation timeout), then closes.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        _client.Untrack(this);
        foreach (var partition in _partitions)
        {
            await partition.DisposeAsync().ConfigureAwait(false);
        }
    }
}
