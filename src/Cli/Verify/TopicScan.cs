using Pulsarish.Client;

namespace Pulsarish.Cli.Verify;

/// <summary>
/// Reads a whole topic from the earliest message with a fresh exclusive subscription (deleted afterwards). It reads
/// until it has passed the topic's last confirmed entry (from its owner's internal stats) and then nothing new came
/// for <c>settle</c>, or until nothing came for <c>idle</c>. A read that cannot start, or that stops short of the last
/// confirmed entry, is incomplete: the check is then inconclusive, never a pass and never a claimed loss.
/// </summary>
public static class TopicScan
{
    public sealed record Result(List<ObservedMessage> Messages, string? Incomplete);

    public static async Task<Result> ReadAllAsync(PulsarishClient client, VerifyAdmin admin, string topic, TimeSpan idle,
        TimeSpan settle, CancellationToken ct)
    {
        var messages = new List<ObservedMessage>();
        MessageId? end = null;
        try
        {
            var (last, _) = await admin.InternalStatsAsync(topic, ct);
            if (last.EntryId >= 0) end = last;
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            // Unknown end: read until idle.
        }

        string subscription = "verify-check-" + Guid.NewGuid().ToString("N")[..12];
        Consumer consumer;
        try
        {
            consumer = await client.SubscribeAsync(new ConsumerOptions
            {
                Topic = topic, SubscriptionName = subscription, InitialPosition = SubscriptionInitialPosition.Earliest,
                SubscriptionType = SubscriptionType.Exclusive,
            }, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return new Result(messages, $"cannot subscribe to {topic}: {e.GetType().Name}: {e.Message}");
        }

        MessageId lastRead = default;
        bool passedEnd = end is null;
        try
        {
            await using (consumer)
            {
                while (true)
                {
                    using var wait = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    wait.CancelAfter(passedEnd && end is not null ? settle : idle);
                    Message message;
                    try
                    {
                        message = await consumer.ReceiveAsync(wait.Token);
                    }
                    catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                    {
                        break;
                    }
                    messages.Add(new ObservedMessage(message.Payload, message.MessageId));
                    lastRead = message.MessageId;
                    if (end is MessageId e && !passedEnd
                        && (lastRead.LedgerId > e.LedgerId || (lastRead.LedgerId == e.LedgerId && lastRead.EntryId >= e.EntryId)))
                    {
                        passedEnd = true;
                    }
                }
            }
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return new Result(messages, $"reading {topic} failed after {messages.Count} messages: {e.GetType().Name}: {e.Message}");
        }
        finally
        {
            try
            {
                await admin.DeleteSubscriptionAsync(topic, subscription, CancellationToken.None);
            }
            catch (Exception)
            {
                // Best effort: a left-over check subscription only holds retention.
            }
        }
        if (!passedEnd)
        {
            return new Result(messages,
                $"the read stopped at {(messages.Count == 0 ? "the start" : lastRead.ToString())} before the topic's last confirmed entry {end} (nothing for {idle.TotalSeconds:0} s)");
        }
        return new Result(messages, null);
    }
}
