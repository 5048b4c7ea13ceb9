using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Client;

/// <summary>
/// Receives from a subscription. Messages are prefetched into a receiver queue bounded by flow permits
/// (<see cref="ConsumerOptions.ReceiverQueueSize"/> per partition). Read with <see cref="ReceiveAsync"/> or
/// <c>await foreach</c>; acknowledge with <see cref="AcknowledgeAsync"/> (individual) or
/// <see cref="AcknowledgeCumulativeAsync"/> (Exclusive/Failover only; the broker refuses it on Shared/Key_Shared
/// with <see cref="ErrorReason.NotAllowed"/>). Reconnects transparently; unacknowledged messages are then
/// redelivered. A partitioned topic gets one internal consumer per partition feeding one queue. Thread-safe.
/// </summary>
public sealed class Consumer : IAsyncDisposable, IAsyncEnumerable<Message>
{
    private readonly PulsarishClient _client;
    private readonly PartitionConsumer[] _partitions;
    private readonly Channel<Message> _queue;
    private readonly bool _partitioned;
    private int _closed;

    private Consumer(PulsarishClient client, string topic, ConsumerOptions options, PartitionConsumer[] partitions,
        Channel<Message> queue, bool partitioned)
    {
        _client = client;
        Topic = topic;
        Options = options;
        _partitions = partitions;
        _queue = queue;
        _partitioned = partitioned;
        foreach (var partition in partitions)
        {
            partition.ActiveChanged += active => ActiveChanged?.Invoke(active);
        }
    }

    /// <summary>The full topic name.</summary>
    public string Topic { get; }

    public ConsumerOptions Options { get; }

    /// <summary>The consumer name as confirmed by the broker.</summary>
    public string Name => _partitions[0].ConsumerName;

    /// <summary>Raised (on a stream reader thread) when the broker switches this consumer active or inactive (Failover).</summary>
    public event Action<bool>? ActiveChanged;

    internal static async Task<Consumer> CreateAsync(PulsarishClient client, ConsumerOptions options, CancellationToken ct)
    {
        string topic = TopicNames.Complete(options.Topic);
        int partitions = await client.GetPartitionCountAsync(topic, ct).ConfigureAwait(false);
        int count = Math.Max(1, partitions);

        // Bounded by the flow permits granted (ReceiverQueueSize per partition), not by the channel: the stream
        // reader must never wait for the application, or ack responses queued behind messages would never be read
        // (a broker may overshoot the permits by the rest of one batch entry, as Pulsar's does).
        var queue = Channel.CreateUnbounded<Message>(new UnboundedChannelOptions
        {
            SingleReader = false,
            SingleWriter = false,
        });
        var consumers = new PartitionConsumer[count];
        for (int i = 0; i < count; i++)
        {
            consumers[i] = partitions == 0
                ? new PartitionConsumer(client, topic, -1, options, queue.Writer)
                : new PartitionConsumer(client, TopicNames.Partition(topic, i), i, options, queue.Writer);
        }

        var tasks = new Task[count];
        for (int i = 0; i < count; i++)
        {
            tasks[i] = consumers[i].ConnectAsync(ct);
        }

        try
        {
            await Task.WhenAll(tasks).ConfigureAwait(false);
        }
        catch
        {
            foreach (var consumer in consumers)
            {
                await consumer.DisposeAsync().ConfigureAwait(false);
            }

            throw;
        }

        return new Consumer(client, topic, options, consumers, queue, partitions > 0);
    }

    /// <summary>
    /// The next message; waits until one arrives or <paramref name="ct"/> is cancelled. Throws
    /// <see cref="PulsarishClientException"/> once the consumer failed for good (a non-retriable error while
    /// reconnecting, e.g. the topic was deleted) and <see cref="ObjectDisposedException"/> after it was closed.
    /// A compressed batch that does not decompress throws once with <see cref="ErrorReason.CorruptMessage"/> (the
    /// batch is acknowledged and discarded, as Pulsar's consumer does); the next receive goes on after it.
    /// </summary>
    public async ValueTask<Message> ReceiveAsync(CancellationToken ct = default)
    {
        while (true)
        {
            Message message;
            try
            {
                message = await _queue.Reader.ReadAsync(ct).ConfigureAwait(false);
            }
            catch (ChannelClosedException e)
            {
                if (e.InnerException is PulsarishClientException failure)
                {
                    throw new PulsarishClientException(failure.ErrorReason, failure.Message, e);
                }

                throw new ObjectDisposedException(nameof(Consumer), "the consumer is closed");
            }

            if (PartitionOf(message.MessageId).OnTaken(message))
            {
                if (message.Failure is { } failure)
                {
                    throw new PulsarishClientException(failure.ErrorReason, failure.Message, failure.InnerException);
                }

                return message;
            }
        }
    }

    /// <summary>Messages as they arrive, until <paramref name="ct"/> is cancelled or the consumer closes.</summary>
    public async IAsyncEnumerator<Message> GetAsyncEnumerator(CancellationToken ct = default)
    {
        while (await _queue.Reader.WaitToReadAsync(ct).ConfigureAwait(false))
        {
            while (_queue.Reader.TryRead(out var message))
            {
                if (PartitionOf(message.MessageId).OnTaken(message))
                {
                    if (message.Failure is { } failure)
                    {
                        throw new PulsarishClientException(failure.ErrorReason, failure.Message, failure.InnerException);
                    }

                    yield return message;
                }
            }
        }
    }

    /// <summary>Same as <c>await foreach</c> over the consumer.</summary>
    public async IAsyncEnumerable<Message> ReadAllAsync([EnumeratorCancellation] CancellationToken ct = default)
    {
        await foreach (var message in this.WithCancellation(ct).ConfigureAwait(false))
        {
            yield return message;
        }
    }

    /// <summary>Acknowledges one message; completes when the broker confirmed it.</summary>
    public Task AcknowledgeAsync(MessageId id, CancellationToken ct = default)
        => PartitionOf(id).AcknowledgeAsync(AckType.Individual, [id], ct);

    /// <summary>Acknowledges several messages (individually).</summary>
    public Task AcknowledgeAsync(IEnumerable<MessageId> ids, CancellationToken ct = default)
    {
        var byPartition = new Dictionary<int, List<MessageId>>();
        foreach (var id in ids)
        {
            if (!byPartition.TryGetValue(id.Partition, out var list))
            {
                byPartition[id.Partition] = list = new List<MessageId>();
            }

            list.Add(id);
        }

        var tasks = new List<Task>(byPartition.Count);
        foreach (var (_, list) in byPartition)
        {
            tasks.Add(PartitionOf(list[0]).AcknowledgeAsync(AckType.Individual, list, ct));
        }

        return Task.WhenAll(tasks);
    }

    /// <summary>Acknowledges <paramref name="id"/> and everything before it on its partition (Exclusive/Failover).</summary>
    public Task AcknowledgeCumulativeAsync(MessageId id, CancellationToken ct = default)
        => PartitionOf(id).AcknowledgeAsync(AckType.Cumulative, [id], ct);

    /// <summary>Asks the broker to redeliver <paramref name="id"/> (to any consumer of a Shared subscription).</summary>
    public void NegativeAcknowledge(MessageId id) => PartitionOf(id).NegativeAcknowledge([id]);

    /// <summary>Asks the broker to redeliver every message delivered to this consumer and not yet acknowledged.</summary>
    public void RedeliverUnacknowledgedMessages()
    {
        foreach (var partition in _partitions)
        {
            partition.RedeliverUnacknowledged();
        }
    }

    /// <summary>
    /// Moves the subscription so that the next message is <paramref name="id"/> (on its partition; for a
    /// partitioned topic the id must carry its partition). <see cref="MessageId.Earliest"/> and
    /// <see cref="MessageId.Latest"/> apply to every partition.
    /// </summary>
    public async Task SeekAsync(MessageId id, CancellationToken ct = default)
    {
        if (id == MessageId.Earliest || id == MessageId.Latest || !_partitioned)
        {
            var tasks = new Task[_partitions.Length];
            for (int i = 0; i < tasks.Length; i++)
            {
                tasks[i] = _partitions[i].SeekAsync(new Seek { MessageId = id.WithPartition(_partitions[i].Partition).ToProto() }, ct);
            }

            await Task.WhenAll(tasks).ConfigureAwait(false);
            return;
        }

        await PartitionOf(id).SeekAsync(new Seek { MessageId = id.ToProto() }, ct).ConfigureAwait(false);
    }

    /// <summary>Moves the subscription to the first message published at or after <paramref name="publishTime"/>.</summary>
    public async Task SeekAsync(DateTimeOffset publishTime, CancellationToken ct = default)
    {
        var tasks = new Task[_partitions.Length];
        for (int i = 0; i < tasks.Length; i++)
        {
            tasks[i] = _partitions[i].SeekAsync(new Seek { PublishTimeMillis = publishTime.ToUnixTimeMilliseconds() }, ct);
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
    }

    private PartitionConsumer PartitionOf(MessageId id)
    {
        if (!_partitioned)
        {
            return _partitions[0];
        }

        if ((uint)id.Partition >= (uint)_partitions.Length)
        {
            throw new PulsarishClientException(ErrorReason.InvalidMessageId,
                $"message id {id} names no partition of {Topic} ({_partitions.Length} partitions)");
        }

        return _partitions[id.Partition];
    }

    /// <summary>Closes every stream; unacknowledged messages go back to the subscription.</summary>
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

        _queue.Writer.TryComplete();
    }
}
