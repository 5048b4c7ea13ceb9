using System.Collections.Concurrent;
using System.Globalization;
using Microsoft.Extensions.Logging;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Client;

/// <summary>
/// The consumer's redelivery features (Pulsar client semantics): negative acks redelivered after a delay or a backoff
/// (<see cref="NegativeAcksTracker"/>), the dead-letter topic (<see cref="DeadLetterPolicy"/>) and the retry topic
/// (<see cref="ReconsumeLaterAsync"/>). The redelivery count grows only when a message is negatively acknowledged or
/// times out (not when its consumer reconnects), so a message reaches the dead-letter topic after
/// 1 + MaxRedeliverCount deliveries (Pulsar issue #3077: deliveries, not redelivery requests). A move writes the copy
/// exactly once (<see cref="DeadLetterWriter"/>) and acknowledges the original only after the copy was persisted.
/// </summary>
public sealed partial class Consumer
{
    private readonly string? _retryTopic;
    private readonly DeadLetterTargets? _deadLetter;
    private readonly NegativeAcksTracker? _negativeAcks;

    // Delivered to the application at the redelivery limit: their next negative ack moves them to the dead-letter topic
    // (Pulsar's possibleSendToDeadLetterTopicMessages). Removed on ack or nack.
    private readonly ConcurrentDictionary<MessageId, Message> _atLimit = new();
    private readonly ConcurrentDictionary<MessageId, byte> _moving = new();
    private readonly SemaphoreSlim _retryProducerGate = new(1, 1);
    private Producer? _retryProducer;

    /// <summary>Test hook: runs after the dead-letter copy was persisted and before the original is acknowledged.</summary>
    internal Func<Message, Task>? AfterDeadLetterWrite { get; set; }

    /// <summary>The dead-letter topic (null without <see cref="ConsumerOptions.DeadLetterPolicy"/> or retry).</summary>
    public string? DeadLetterTopic => _deadLetter?.DeadLetterTopic;

    /// <summary>The retry topic this consumer also subscribes to (null without <see cref="ConsumerOptions.EnableRetry"/>).</summary>
    public string? RetryLetterTopic => _retryTopic;

    private sealed record DeadLetterTargets(string DeadLetterTopic, int MaxRedeliverCount);

    /// <summary>The topic the default retry and dead-letter names derive from (the first one of a multi-topic consumer).</summary>
    private static string BaseTopic(ConsumerOptions options)
        => TopicNames.Complete(!string.IsNullOrWhiteSpace(options.Topic) ? options.Topic
            : options.Topics.Count > 0 ? options.Topics[0] : "unknown");

    private static string RetryTopicName(ConsumerOptions options)
        => TopicNames.Complete(options.DeadLetterPolicy?.RetryLetterTopic ?? $"{BaseTopic(options)}-{options.SubscriptionName}-RETRY");

    private static DeadLetterTargets? ResolveDeadLetterPolicy(ConsumerOptions options)
    {
        var policy = options.DeadLetterPolicy;
        string topic = BaseTopic(options);
        if (policy is null && !options.EnableRetry)
        {
            return null;
        }

        return new DeadLetterTargets(
            TopicNames.Complete(policy?.DeadLetterTopic ?? $"{topic}-{options.SubscriptionName}-DLQ"),
            policy?.MaxRedeliverCount ?? DeadLetterPolicy.DefaultMaxReconsumeTimes);
    }

    private static NegativeAcksTracker? CreateNegativeAcksTracker(ConsumerOptions options)
    {
        if (options.NegativeAckRedeliveryBackoff is { } backoff)
        {
            return new NegativeAcksTracker(backoff.MinDelay);
        }

        return options.NegativeAckRedeliveryDelay > TimeSpan.Zero ? new NegativeAcksTracker(options.NegativeAckRedeliveryDelay) : null;
    }

    private PartitionConsumer OwnerOf(Message message) => Route(MessageOf(message));

    private PartitionConsumer OwnerOf(MessageId id) => Route(id);

    /// <summary>
    /// A queued message is about to reach the application: false when it is not to (an older connection's). One at
    /// the redelivery limit is remembered: its next negative ack moves it to the dead-letter topic.
    /// </summary>
    private bool Admit(Message message)
    {
        if (!Taken(message))
        {
            return false;
        }

        if (_deadLetter is { } deadLetter && message.RedeliveryCount >= deadLetter.MaxRedeliverCount)
        {
            _atLimit[message.MessageId] = message;
        }

        return true;
    }

    /// <summary>
    /// On arrival: a message redelivered beyond the limit (it timed out at the limit) goes to the dead-letter topic
    /// without another delivery to the application (Pulsar moves such messages on receipt too).
    /// </summary>
    private void DivertPastTheLimit(PartitionConsumer[] partitions)
    {
        if (_deadLetter is not { } deadLetter)
        {
            return;
        }

        foreach (var partition in partitions)
        {
            partition.Divert = message =>
            {
                if (message.RedeliveryCount <= deadLetter.MaxRedeliverCount || !Taken(message))
                {
                    return false;
                }

                _ = MoveToDeadLetterAsync(message, throwOnFailure: false, CancellationToken.None);
                return true;
            };
        }
    }

    /// <summary>The application acknowledges <paramref name="id"/>: nothing of it is tracked any more.</summary>
    private void Acknowledging(MessageId id)
    {
        _atLimit.TryRemove(id, out _);
        _negativeAcks?.Remove(id);
    }

    /// <summary>
    /// Asks for <paramref name="id"/> to be redelivered after <see cref="ConsumerOptions.NegativeAckRedeliveryDelay"/>
    /// (the backoff, if any, counts it as a first redelivery, as Pulsar's nack by id). At the redelivery limit of a
    /// <see cref="DeadLetterPolicy"/> it goes to the dead-letter topic instead.
    /// </summary>
    public void NegativeAcknowledge(MessageId id)
    {
        if (_atLimit.TryRemove(id, out var atLimit))
        {
            _ = MoveToDeadLetterAsync(atLimit, throwOnFailure: false, CancellationToken.None);
            return;
        }

        var owner = OwnerOf(id);
        Nack(owner, id, owner.CurrentEpoch, 0);
    }

    /// <summary>
    /// Asks for <paramref name="message"/> to be redelivered after the negative-ack delay, or after the backoff for
    /// its redelivery count. At the redelivery limit of a <see cref="DeadLetterPolicy"/> it goes to the dead-letter
    /// topic instead.
    /// </summary>
    public void NegativeAcknowledge(Message message)
    {
        ArgumentNullException.ThrowIfNull(message);
        _atLimit.TryRemove(message.MessageId, out _);
        if (_deadLetter is { } deadLetter && message.RedeliveryCount >= deadLetter.MaxRedeliverCount)
        {
            _ = MoveToDeadLetterAsync(message, throwOnFailure: false, CancellationToken.None);
            return;
        }

        Nack(OwnerOf(message), message.MessageId, message.Epoch, message.RedeliveryCount);
    }

    private void Nack(PartitionConsumer owner, MessageId id, long epoch, int redeliveryCount)
    {
        var delay = Options.NegativeAckRedeliveryBackoff?.Next(redeliveryCount) ?? Options.NegativeAckRedeliveryDelay;
        if (_negativeAcks is null || delay <= TimeSpan.Zero)
        {
            owner.NegativeAcknowledge([id]);
            return;
        }

        _negativeAcks.Add(owner, id, epoch, delay);
    }

    /// <summary>
    /// Sends <paramref name="message"/> to the retry topic, to be delivered again (to this subscription) not before
    /// <paramref name="delay"/>, then acknowledges it. The copy carries REAL_TOPIC, ORIGIN_MESSAGE_ID, RECONSUMETIMES
    /// and DELAY_TIME; once RECONSUMETIMES would exceed the policy's MaxRedeliverCount (16 without a policy) the message
    /// goes to the dead-letter topic instead. Needs <see cref="ConsumerOptions.EnableRetry"/>; the delay is honoured on
    /// Shared and Key_Shared subscriptions.
    /// </summary>
    public async Task ReconsumeLaterAsync(Message message, TimeSpan delay, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(message);
        if (_retryTopic is null || _deadLetter is null)
        {
            throw new InvalidOperationException("ReconsumeLaterAsync needs ConsumerOptions.EnableRetry");
        }

        ArgumentOutOfRangeException.ThrowIfLessThan(delay, TimeSpan.Zero);
        int times = 1;
        if (message.Properties.TryGetValue(RetryMessageProperties.ReconsumeTimes, out var text)
            && int.TryParse(text, NumberStyles.None, CultureInfo.InvariantCulture, out int before))
        {
            times = before + 1;
        }

        _atLimit.TryRemove(message.MessageId, out _);
        if (times > _deadLetter.MaxRedeliverCount)
        {
            await MoveToDeadLetterAsync(message, throwOnFailure: true, ct).ConfigureAwait(false);
            return;
        }

        var properties = DeadLetterWriter.OriginProperties(message);
        properties[RetryMessageProperties.ReconsumeTimes] = times.ToString(CultureInfo.InvariantCulture);
        properties[RetryMessageProperties.DelayTime] = ((long)delay.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);
        var producer = await RetryProducerAsync(ct).ConfigureAwait(false);
        await producer.SendAsync(new OutgoingMessage(message.Payload)
        {
            Key = message.Key,
            Properties = properties,
            EventTime = message.EventTime,
            DeliverAfter = delay,
        }, ct).ConfigureAwait(false);
        Acknowledging(message.MessageId);
        await OwnerOf(message).AcknowledgeAsync(AckType.Individual, [message.MessageId], ct).ConfigureAwait(false);
    }

    private async Task<Producer> RetryProducerAsync(CancellationToken ct)
    {
        if (Volatile.Read(ref _retryProducer) is { } existing)
        {
            return existing;
        }

        await _retryProducerGate.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            return _retryProducer ??= await _client.CreateProducerAsync(new ProducerOptions
            {
                Topic = _retryTopic!,
                BatchingEnabled = false,   // one entry per retry: each carries its own delivery time
            }, ct).ConfigureAwait(false);
        }
        finally
        {
            _retryProducerGate.Release();
        }
    }

    /// <summary>
    /// Writes <paramref name="message"/> to the dead-letter topic (exactly once) and only then acknowledges it. On
    /// failure the original stays unacknowledged and is redelivered (after the negative-ack delay), to be moved again.
    /// </summary>
    private async Task MoveToDeadLetterAsync(Message message, bool throwOnFailure, CancellationToken ct)
    {
        var deadLetter = _deadLetter!;
        if (!_moving.TryAdd(message.MessageId, 0))
        {
            return;
        }

        try
        {
            bool written = await DeadLetterWriter.WriteOnceAsync(_client, deadLetter.DeadLetterTopic, Options.SubscriptionName,
                message, DeadLetterWriter.OriginProperties(message), ct).ConfigureAwait(false);
            if (AfterDeadLetterWrite is { } hook)
            {
                await hook(message).ConfigureAwait(false);
            }

            Acknowledging(message.MessageId);
            await OwnerOf(message).AcknowledgeAsync(AckType.Individual, [message.MessageId], ct).ConfigureAwait(false);
            _logger.LogInformation("Moved {MessageId} of {Topic} to dead-letter topic {DeadLetterTopic} after {RedeliveryCount} redeliveries{Again}",
                message.MessageId, message.Topic, deadLetter.DeadLetterTopic, message.RedeliveryCount,
                written ? "" : " (copy already written by an earlier attempt)");
        }
        catch (Exception e) when (!throwOnFailure && Volatile.Read(ref _closed) == 0)
        {
            _logger.LogWarning(e, "Moving {MessageId} of {Topic} to {DeadLetterTopic} failed; it will be redelivered and moved again",
                message.MessageId, message.Topic, deadLetter.DeadLetterTopic);
            try
            {
                var owner = OwnerOf(message);
                Nack(owner, message.MessageId, message.Epoch, message.RedeliveryCount);
            }
            catch (Exception nackFailure)
            {
                _logger.LogDebug(nackFailure, "Negative ack of {MessageId} after a failed move", message.MessageId);
            }
        }
        catch (Exception) when (!throwOnFailure)
        {
            // Closed meanwhile: the broker redelivers the unacknowledged original to the subscription.
        }
        finally
        {
            _moving.TryRemove(message.MessageId, out _);
        }
    }

    /// <summary>On close: lets moves already under way finish (bounded by the operation timeout).</summary>
    private async ValueTask WaitForDeadLetterMovesAsync()
    {
        long deadline = Environment.TickCount64 + (long)_client.Options.OperationTimeout.TotalMilliseconds;
        while (!_moving.IsEmpty && Environment.TickCount64 < deadline)
        {
            await Task.Delay(20).ConfigureAwait(false);
        }
    }

    private async ValueTask DisposeRedeliveryAsync()
    {
        _negativeAcks?.Dispose();

        if (Interlocked.Exchange(ref _retryProducer, null) is { } producer)
        {
            await producer.DisposeAsync().ConfigureAwait(false);
        }
    }
}
