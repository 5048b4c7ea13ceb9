using System.Runtime.CompilerServices;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Client;

/// <summary>
/// Receives from a subscription. Messages are prefetched into a receiver queue bounded by flow permits
/// (<see cref="ConsumerOptions.ReceiverQueueSize"/> per partition). Read with <see cref="ReceiveAsync"/> or
/// <c>await foreach</c>; acknowledge with <see cref="AcknowledgeAsync(MessageId, CancellationToken)"/> (individual) or
/// <see cref="AcknowledgeCumulativeAsync"/> (Exclusive/Failover only; the broker refuses it on Shared/Key_Shared
/// with <see cref="ErrorReason.NotAllowed"/>). Reconnects transparently; unacknowledged messages are then
/// redelivered. Every topic — each partition of a partitioned topic, each topic of a multi-topic consumer
/// (<see cref="ConsumerOptions.Topics"/>, <see cref="ConsumerOptions.TopicsPattern"/>) — gets one internal consumer
/// feeding one queue; a message carries its topic in <see cref="MessageId.Topic"/>, and acks, negative acks and
/// seeks by id go to that topic's stream (Pulsar's MultiTopicsConsumer). Thread-safe.
/// </summary>
public sealed class Consumer : IAsyncDisposable, IAsyncEnumerable<Message>
{
    private readonly PulsarishClient _client;
    private readonly Channel<Message> _queue;
    private readonly ILogger _logger;
    private readonly object _topicsLock = new();

    /// <summary>Subscribed topics (as named by the application or found by the pattern) → their partitions' consumers.</summary>
    private readonly Dictionary<string, PartitionConsumer[]> _topics = new(StringComparer.Ordinal);

    /// <summary>Partition (or non-partitioned topic) name → its consumer; replaced whole under the lock.</summary>
    private Dictionary<string, PartitionConsumer> _byName = new(StringComparer.Ordinal);

    /// <summary>The consumers of a single topic by partition index, for ids that carry no topic (parsed ids).</summary>
    private PartitionConsumer[] _single = [];

    private readonly CancellationTokenSource _stop = new();
    private Task _discovery = Task.CompletedTask;
    private int _closed;

    private Consumer(PulsarishClient client, string topic, ConsumerOptions options, Channel<Message> queue)
    {
        _client = client;
        Topic = topic;
        Options = options;
        _queue = queue;
        _logger = client.CreateLogger<Consumer>();
    }

    /// <summary>The full topic name; for a multi-topic consumer its pattern or its topics separated by commas.</summary>
    public string Topic { get; }

    /// <summary>The topics subscribed now (full names; a partitioned topic by its own name).</summary>
    public IReadOnlyList<string> Topics
    {
        get
        {
            lock (_topicsLock)
            {
                var names = new List<string>(_topics.Keys);
                names.Sort(StringComparer.Ordinal);
                return names;
            }
        }
    }

    public ConsumerOptions Options { get; }

    /// <summary>The consumer name as confirmed by the broker.</summary>
    public string Name
    {
        get
        {
            foreach (var consumer in All())
            {
                return consumer.ConsumerName;
            }

            return Options.ConsumerName ?? "";
        }
    }

    /// <summary>Raised (on a stream reader thread) when the broker switches this consumer active or inactive (Failover).</summary>
    public event Action<bool>? ActiveChanged;

    private bool IsMultiTopic => Options.Reader is null && (Options.TopicsPattern is not null || _single.Length == 0);

    internal static async Task<Consumer> CreateAsync(PulsarishClient client, ConsumerOptions options, CancellationToken ct)
    {
        // Bounded by the flow permits granted (ReceiverQueueSize per partition), not by the channel: the stream
        // reader must never wait for the application, or ack responses queued behind messages would never be read
        // (a broker may overshoot the permits by the rest of one batch entry, as Pulsar's does).
        var queue = Channel.CreateUnbounded<Message>(new UnboundedChannelOptions
        {
            SingleReader = false,
            SingleWriter = false,
        });

        TopicsPattern? pattern = null;
        var topics = new List<string>();
        if (!string.IsNullOrWhiteSpace(options.TopicsPattern))
        {
            pattern = TopicsPattern.Parse(options.TopicsPattern);
            topics.AddRange(await client.GetTopicsOfNamespaceAsync(pattern.Namespace, pattern.Regex, ct).ConfigureAwait(false));
        }
        else
        {
            if (!string.IsNullOrWhiteSpace(options.Topic))
            {
                topics.Add(TopicNames.Complete(options.Topic));
            }

            foreach (string topic in options.Topics)
            {
                string full = TopicNames.Complete(topic);
                if (!topics.Contains(full))
                {
                    topics.Add(full);
                }
            }
        }

        string name = pattern?.Regex ?? string.Join(",", topics);
        var consumer = new Consumer(client, name, options, queue);
        try
        {
            var tasks = new Task[topics.Count];
            for (int i = 0; i < tasks.Length; i++)
            {
                tasks[i] = consumer.AddTopicAsync(topics[i], ct);
            }

            await Task.WhenAll(tasks).ConfigureAwait(false);
            if (pattern is null && topics.Count == 1)
            {
                lock (consumer._topicsLock)
                {
                    consumer._single = consumer._topics[topics[0]];
                }
            }
        }
        catch
        {
            await consumer.CloseConsumersAsync().ConfigureAwait(false);
            throw;
        }

        if (pattern is not null)
        {
            consumer._discovery = Task.Run(() => consumer.DiscoverAsync(pattern));
        }

        return consumer;
    }

    /// <summary>
    /// Subscribes to one more topic (every partition of a partitioned one) with this consumer's options; its messages
    /// join the same queue. No-op when already subscribed. Used by pattern discovery.
    /// </summary>
    internal async Task AddTopicAsync(string topic, CancellationToken ct)
    {
        string full = TopicNames.Complete(topic);
        lock (_topicsLock)
        {
            if (_topics.ContainsKey(full))
            {
                return;
            }
        }

        int partitions = await _client.GetPartitionCountAsync(full, ct).ConfigureAwait(false);
        var consumers = new PartitionConsumer[Math.Max(1, partitions)];
        for (int i = 0; i < consumers.Length; i++)
        {
            consumers[i] = partitions == 0
                ? new PartitionConsumer(_client, full, -1, Options, _queue.Writer)
                : new PartitionConsumer(_client, TopicNames.Partition(full, i), i, Options, _queue.Writer);
            consumers[i].ActiveChanged += active => ActiveChanged?.Invoke(active);
        }

        var tasks = new Task[consumers.Length];
        for (int i = 0; i < consumers.Length; i++)
        {
            tasks[i] = consumers[i].ConnectAsync(ct);
        }

        bool added = false;
        try
        {
            await Task.WhenAll(tasks).ConfigureAwait(false);
            lock (_topicsLock)
            {
                if (Volatile.Read(ref _closed) == 0 && _topics.TryAdd(full, consumers))
                {
                    var byName = new Dictionary<string, PartitionConsumer>(_byName, StringComparer.Ordinal);
                    foreach (var consumer in consumers)
                    {
                        byName[consumer.Topic] = consumer;
                    }

                    _byName = byName;
                    added = true;
                }
            }
        }
        finally
        {
            if (!added)
            {
                foreach (var consumer in consumers)
                {
                    await consumer.DisposeAsync().ConfigureAwait(false);
                }
            }
        }
    }

    /// <summary>Unsubscribes this consumer's streams of one topic (a pattern topic that was deleted).</summary>
    private async Task RemoveTopicAsync(string topic)
    {
        PartitionConsumer[]? consumers;
        lock (_topicsLock)
        {
            if (!_topics.Remove(topic, out consumers))
            {
                return;
            }

            var byName = new Dictionary<string, PartitionConsumer>(_byName, StringComparer.Ordinal);
            foreach (var consumer in consumers)
            {
                byName.Remove(consumer.Topic);
            }

            _byName = byName;
        }

        foreach (var consumer in consumers)
        {
            await consumer.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Pattern consumers: every discovery period, subscribes to new matching topics and leaves deleted ones.</summary>
    private async Task DiscoverAsync(TopicsPattern pattern)
    {
        var ct = _stop.Token;
        while (!ct.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(Options.PatternAutoDiscoveryPeriod, ct).ConfigureAwait(false);
                var current = await _client.GetTopicsOfNamespaceAsync(pattern.Namespace, pattern.Regex, ct).ConfigureAwait(false);
                var present = new HashSet<string>(current, StringComparer.Ordinal);
                foreach (string topic in current)
                {
                    await AddTopicAsync(topic, ct).ConfigureAwait(false);
                }

                foreach (string topic in Topics)
                {
                    if (!present.Contains(topic))
                    {
                        _logger.LogInformation("Topic {Topic} no longer matches {Pattern}; leaving it", topic, pattern.Regex);
                        await RemoveTopicAsync(topic).ConfigureAwait(false);
                    }
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return;
            }
            catch (Exception e) when (e is PulsarishClientException or TimeoutException or OperationCanceledException)
            {
                _logger.LogWarning(e, "Topic discovery for {Pattern} failed; retrying next period", pattern.Regex);
            }
        }
    }

    /// <summary>
    /// The next message; waits until one arrives or <paramref name="ct"/> is cancelled. Throws
    /// <see cref="PulsarishClientException"/> once the consumer failed for good (a non-retriable error while
    /// reconnecting, e.g. the topic was deleted) and <see cref="ObjectDisposedException"/> after it was closed.
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

            if (Taken(message))
            {
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
                if (Taken(message))
                {
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

    /// <summary>False for a message of an older stream or of a topic left meanwhile (dropped: redelivered or gone).</summary>
    private bool Taken(Message message)
        => TryRoute(message.MessageId, out var consumer) && consumer.OnTaken(message);

    /// <summary>Acknowledges one message; completes when the broker confirmed it.</summary>
    public Task AcknowledgeAsync(MessageId id, CancellationToken ct = default)
        => Route(id).AcknowledgeAsync(AckType.Individual, [id], ct);

    /// <summary>Acknowledges one received message on its topic.</summary>
    public Task AcknowledgeAsync(Message message, CancellationToken ct = default)
        => AcknowledgeAsync(MessageOf(message), ct);

    /// <summary>Acknowledges several messages (individually), each on its topic.</summary>
    public Task AcknowledgeAsync(IEnumerable<MessageId> ids, CancellationToken ct = default)
    {
        var byConsumer = new Dictionary<PartitionConsumer, List<MessageId>>();
        foreach (var id in ids)
        {
            var consumer = Route(id);
            if (!byConsumer.TryGetValue(consumer, out var list))
            {
                byConsumer[consumer] = list = new List<MessageId>();
            }

            list.Add(id);
        }

        var tasks = new List<Task>(byConsumer.Count);
        foreach (var (consumer, list) in byConsumer)
        {
            tasks.Add(consumer.AcknowledgeAsync(AckType.Individual, list, ct));
        }

        return Task.WhenAll(tasks);
    }

    /// <summary>
    /// Acknowledges <paramref name="id"/> and everything before it on its topic or partition (Exclusive/Failover);
    /// the other topics of a multi-topic consumer are not touched.
    /// </summary>
    public Task AcknowledgeCumulativeAsync(MessageId id, CancellationToken ct = default)
        => Route(id).AcknowledgeAsync(AckType.Cumulative, [id], ct);

    /// <summary>Asks the broker to redeliver <paramref name="id"/> (to any consumer of a Shared subscription).</summary>
    public void NegativeAcknowledge(MessageId id) => Route(id).NegativeAcknowledge([id]);

    /// <summary>Asks the broker to redeliver one received message.</summary>
    public void NegativeAcknowledge(Message message) => NegativeAcknowledge(MessageOf(message));

    /// <summary>Asks the broker to redeliver every message delivered to this consumer and not yet acknowledged.</summary>
    public void RedeliverUnacknowledgedMessages()
    {
        foreach (var consumer in All())
        {
            consumer.RedeliverUnacknowledged();
        }
    }

    /// <summary>
    /// Moves the subscription so that the next message is <paramref name="id"/> (on its topic or partition: the id
    /// must carry them — received ids do — unless the consumer has a single non-partitioned topic).
    /// <see cref="MessageId.Earliest"/> and <see cref="MessageId.Latest"/> apply to every topic and partition.
    /// Completes once the broker applied it and the consumer subscribed again.
    /// </summary>
    public async Task SeekAsync(MessageId id, CancellationToken ct = default)
    {
        var all = All();
        if (id == MessageId.Earliest || id == MessageId.Latest || (all.Count == 1 && _single.Length == 1))
        {
            var tasks = new Task[all.Count];
            for (int i = 0; i < tasks.Length; i++)
            {
                tasks[i] = all[i].SeekAsync(new Seek { MessageId = id.WithPartition(all[i].Partition).ToProto() }, ct);
            }

            await Task.WhenAll(tasks).ConfigureAwait(false);
            return;
        }

        await Route(id).SeekAsync(new Seek { MessageId = id.ToProto() }, ct).ConfigureAwait(false);
    }

    /// <summary>Moves the subscription to the first message published at or after <paramref name="publishTime"/>.</summary>
    public async Task SeekAsync(DateTimeOffset publishTime, CancellationToken ct = default)
    {
        var all = All();
        var tasks = new Task[all.Count];
        for (int i = 0; i < tasks.Length; i++)
        {
            tasks[i] = all[i].SeekAsync(new Seek { PublishTimeMillis = publishTime.ToUnixTimeMilliseconds() }, ct);
        }

        await Task.WhenAll(tasks).ConfigureAwait(false);
    }

    /// <summary>
    /// The id of the last message stored on the topic (Pulsar's getLastMessageId): its position and batch index,
    /// or <c>(-1, -1)</c> when nothing is stored. For a partitioned or multi-topic consumer use
    /// <see cref="GetLastMessageIdsAsync"/> (NotAllowed here).
    /// </summary>
    public Task<MessageId> GetLastMessageIdAsync(CancellationToken ct = default)
    {
        var all = All();
        if (all.Count != 1)
        {
            throw new PulsarishClientException(ErrorReason.NotAllowed,
                $"{Topic} has {all.Count} partitions or topics; use GetLastMessageIdsAsync");
        }

        return all[0].GetLastMessageIdAsync(ct);
    }

    /// <summary>The last message id of every topic and partition (each carries its <see cref="MessageId.Topic"/>).</summary>
    public async Task<IReadOnlyList<MessageId>> GetLastMessageIdsAsync(CancellationToken ct = default)
    {
        var all = All();
        var tasks = new Task<MessageId>[all.Count];
        for (int i = 0; i < tasks.Length; i++)
        {
            tasks[i] = all[i].GetLastMessageIdAsync(ct);
        }

        return await Task.WhenAll(tasks).ConfigureAwait(false);
    }

    /// <summary>Reader: whether any partition has a message after the last one read.</summary>
    internal async Task<bool> HasMessageAvailableAsync(CancellationToken ct)
    {
        var all = All();
        var tasks = new Task<bool>[all.Count];
        for (int i = 0; i < tasks.Length; i++)
        {
            tasks[i] = all[i].HasMessageAvailableAsync(ct);
        }

        foreach (bool available in await Task.WhenAll(tasks).ConfigureAwait(false))
        {
            if (available)
            {
                return true;
            }
        }

        return false;
    }

    private static MessageId MessageOf(Message message)
    {
        ArgumentNullException.ThrowIfNull(message);
        return message.MessageId.Topic is null ? message.MessageId.WithTopic(message.Topic) : message.MessageId;
    }

    private List<PartitionConsumer> All()
    {
        lock (_topicsLock)
        {
            var all = new List<PartitionConsumer>();
            foreach (var consumers in _topics.Values)
            {
                all.AddRange(consumers);
            }

            return all;
        }
    }

    private PartitionConsumer Route(MessageId id)
    {
        if (TryRoute(id, out var consumer))
        {
            return consumer;
        }

        throw new PulsarishClientException(ErrorReason.InvalidMessageId, id.Topic is not null
            ? $"message id {id} is of {id.Topic}, which this consumer does not consume"
            : IsMultiTopic
                ? $"message id {id} names no topic; a consumer of several topics needs the ids it received"
                : $"message id {id} names no partition of {Topic} ({_single.Length} partitions)");
    }

    private bool TryRoute(MessageId id, out PartitionConsumer consumer)
    {
        if (id.Topic is { } topic)
        {
            return Volatile.Read(ref _byName).TryGetValue(topic, out consumer!);
        }

        var single = _single;
        if (single.Length == 1 && single[0].Partition < 0)
        {
            consumer = single[0];
            return true;
        }

        if ((uint)id.Partition < (uint)single.Length)
        {
            consumer = single[id.Partition];
            return true;
        }

        consumer = null!;
        return false;
    }

    private async Task CloseConsumersAsync()
    {
        List<PartitionConsumer> all;
        lock (_topicsLock)
        {
            all = new List<PartitionConsumer>();
            foreach (var consumers in _topics.Values)
            {
                all.AddRange(consumers);
            }

            _topics.Clear();
            _byName = new Dictionary<string, PartitionConsumer>(StringComparer.Ordinal);
        }

        foreach (var consumer in all)
        {
            await consumer.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Closes every stream; unacknowledged messages go back to the subscription.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _closed, 1) != 0)
        {
            return;
        }

        _client.Untrack(this);
        _stop.Cancel();
        try
        {
            await _discovery.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
        }

        await CloseConsumersAsync().ConfigureAwait(false);
        _queue.Writer.TryComplete();
    }
}
