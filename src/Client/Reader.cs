using System.Runtime.CompilerServices;
using System.Security.Cryptography;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Client;

/// <summary>
/// Reads a topic from a chosen position without a durable subscription (Pulsar's Reader): the broker keeps a
/// non-durable cursor for it — nothing stored, gone when the reader closes. <see cref="ReadNextAsync"/> returns the
/// messages in order (per partition); <see cref="HasMessageAvailableAsync"/> tells whether more are stored;
/// <see cref="SeekAsync(MessageId, CancellationToken)"/> moves it. After a reconnect it resumes after the last
/// message it returned. A partitioned topic is read on every partition. Thread-safe.
/// </summary>
public sealed class Reader : IAsyncDisposable, IAsyncEnumerable<Message>
{
    private readonly PulsarishClient _client;
    private readonly Consumer _consumer;

    private Reader(PulsarishClient client, Consumer consumer, ReaderOptions options)
    {
        _client = client;
        _consumer = consumer;
        Options = options;
    }

    public ReaderOptions Options { get; }

    /// <summary>The full topic name.</summary>
    public string Topic => _consumer.Topic;

    /// <summary>The name of the reader's non-durable subscription.</summary>
    public string SubscriptionName => _consumer.Options.SubscriptionName;

    internal static async Task<Reader> CreateAsync(PulsarishClient client, ReaderOptions options, CancellationToken ct)
    {
        string topic = TopicNames.Complete(options.Topic);
        var start = options.StartMessageId;
        bool special = start == MessageId.Earliest || start == MessageId.Latest;
        if (!special && await client.GetPartitionCountAsync(topic, ct).ConfigureAwait(false) > 0)
        {
            throw new PulsarishClientException(ErrorReason.NotAllowed,
                $"{topic} is partitioned: a reader of it starts at Earliest or Latest (then seek)");
        }

        string suffix = Convert.ToHexString(RandomNumberGenerator.GetBytes(5)).ToLowerInvariant();
        var consumerOptions = new ConsumerOptions
        {
            Topic = topic,
            SubscriptionName = options.SubscriptionName ?? $"reader-{suffix}",
            SubscriptionType = SubscriptionType.Exclusive,
            ConsumerName = options.ReaderName,
            ReceiverQueueSize = options.ReceiverQueueSize,
            Reader = new ReaderStart(start, options.StartMessageIdInclusive),
        };
        consumerOptions.Validate();
        var consumer = await Consumer.CreateAsync(client, consumerOptions, ct).ConfigureAwait(false);
        return new Reader(client, consumer, options);
    }

    /// <summary>The next message; waits for one (or until <paramref name="ct"/> is cancelled).</summary>
    public ValueTask<Message> ReadNextAsync(CancellationToken ct = default) => _consumer.ReceiveAsync(ct);

    /// <summary>The next message, or null when none arrived within <paramref name="timeout"/>.</summary>
    public async ValueTask<Message?> ReadNextAsync(TimeSpan timeout, CancellationToken ct = default)
    {
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        cts.CancelAfter(timeout);
        try
        {
            return await ReadNextAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            return null;
        }
    }

    /// <summary>
    /// Whether a message after the last one returned (or after the start position) is stored on the topic (any
    /// partition): true means <see cref="ReadNextAsync(CancellationToken)"/> returns without waiting for a new publish.
    /// </summary>
    public Task<bool> HasMessageAvailableAsync(CancellationToken ct = default) => _consumer.HasMessageAvailableAsync(ct);

    /// <summary>
    /// Moves the reader: the next message is <paramref name="id"/> (<see cref="MessageId.Earliest"/>,
    /// <see cref="MessageId.Latest"/> on every partition; a message id on its partition). Completes once the broker
    /// applied it.
    /// </summary>
    public Task SeekAsync(MessageId id, CancellationToken ct = default) => _consumer.SeekAsync(id, ct);

    /// <summary>Moves the reader to the first message published at or after <paramref name="publishTime"/>.</summary>
    public Task SeekAsync(DateTimeOffset publishTime, CancellationToken ct = default) => _consumer.SeekAsync(publishTime, ct);

    /// <summary>The last message id of the topic (<c>(-1, -1)</c> when empty); NotAllowed for a partitioned topic.</summary>
    public Task<MessageId> GetLastMessageIdAsync(CancellationToken ct = default) => _consumer.GetLastMessageIdAsync(ct);

    /// <summary>The last message id of every partition.</summary>
    public Task<IReadOnlyList<MessageId>> GetLastMessageIdsAsync(CancellationToken ct = default)
        => _consumer.GetLastMessageIdsAsync(ct);

    /// <summary>Messages as they arrive, until <paramref name="ct"/> is cancelled or the reader closes.</summary>
    public async IAsyncEnumerator<Message> GetAsyncEnumerator(CancellationToken ct = default)
    {
        while (true)
        {
            Message message;
            try
            {
                message = await ReadNextAsync(ct).ConfigureAwait(false);
            }
            catch (ObjectDisposedException)
            {
                yield break;
            }

            yield return message;
        }
    }

    /// <summary>Closes the reader: its non-durable subscription disappears from the broker.</summary>
    public async ValueTask DisposeAsync()
    {
        _client.Untrack(this);
        await _consumer.DisposeAsync().ConfigureAwait(false);
    }
}
