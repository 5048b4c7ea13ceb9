using System.Buffers.Binary;
using Pulsarish.TestKit;

namespace Pulsarish.Client.Tests;

/// <summary>Sends and checks randomly delayed messages (compiled into the cluster tests too).</summary>
internal static class DelayedTraffic
{
    /// <summary>
    /// Sends <paramref name="count"/> messages whose payload is their index, each delayed by a random time up to
    /// <paramref name="maxDelay"/> (a tenth not delayed; half by DeliverAt, half by DeliverAfter). Returns each one's
    /// deliver-at time in Unix ms as a lower bound (for DeliverAfter: the time before the send plus the delay), and fills
    /// <paramref name="ids"/> (if given) with the message ids.
    /// </summary>
    public static async Task<long[]> SendAsync(PulsarishClient client, string topic, int count, TimeSpan maxDelay, Random random,
        List<MessageId>? ids = null)
    {
        var due = new long[count];
        await using var producer = await client.CreateProducerAsync(new ProducerOptions { Topic = topic });
        var sends = new Task<MessageId>[count];
        for (int i = 0; i < count; i++)
        {
            var payload = new byte[4];
            BinaryPrimitives.WriteInt32LittleEndian(payload, i);
            long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            int kind = random.Next(10);
            long delayMillis = random.NextInt64(1, (long)maxDelay.TotalMilliseconds + 1);
            var message = kind switch
            {
                0 => new OutgoingMessage(payload) { Key = $"k{i % 32}" },
                < 5 => new OutgoingMessage(payload) { Key = $"k{i % 32}", DeliverAt = DateTimeOffset.FromUnixTimeMilliseconds(now + delayMillis) },
                _ => new OutgoingMessage(payload) { Key = $"k{i % 32}", DeliverAfter = TimeSpan.FromMilliseconds(delayMillis) },
            };
            due[i] = kind == 0 ? 0 : now + delayMillis;
            sends[i] = producer.SendAsync(message);
        }
        var sent = await Task.WhenAll(sends);
        ids?.AddRange(sent);
        return due;
    }

    /// <summary>Receives and acknowledges <paramref name="count"/> distinct messages; each one's receive time in Unix ms.</summary>
    public static async Task<long[]> ReceiveAllAsync(Consumer consumer, int count, TimeSpan timeout, int seed)
    {
        var receivedAt = new long[count];
        int distinct = 0;
        var toAck = new List<MessageId>();
        using var deadline = new CancellationTokenSource(timeout);
        while (distinct < count)
        {
            Message message;
            try
            {
                message = await consumer.ReceiveAsync(deadline.Token);
            }
            catch (OperationCanceledException)
            {
                Assert.Fail($"only {distinct} of {count} delayed messages arrived within {timeout} ({TestSeed.Describe(seed)})");
                throw;
            }
            long at = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            int index = BinaryPrimitives.ReadInt32LittleEndian(message.Payload.Span);
            if (receivedAt[index] == 0)
            {
                receivedAt[index] = at;
                distinct++;
            }
            toAck.Add(message.MessageId);
            if (toAck.Count >= 100)
            {
                await AcknowledgeAsync(consumer, toAck);
            }
        }
        await AcknowledgeAsync(consumer, toAck);
        return receivedAt;
    }

    /// <summary>Acknowledges; an ack lost to a broker failover is fine (the message comes again, counted once).</summary>
    private static async Task AcknowledgeAsync(Consumer consumer, List<MessageId> ids)
    {
        if (ids.Count == 0)
        {
            return;
        }
        try
        {
            await consumer.AcknowledgeAsync(ids);
        }
        catch (PulsarishClientException)
        {
        }
        ids.Clear();
    }

    public static void AssertNoneEarly(long[] due, long[] receivedAt, long slackMillis, int seed)
    {
        var early = new List<string>();
        for (int i = 0; i < due.Length; i++)
        {
            if (receivedAt[i] < due[i] - slackMillis)
            {
                early.Add($"#{i} {due[i] - receivedAt[i]} ms early");
            }
        }
        Assert.That(early, Is.Empty, $"no delayed message arrives before its time ({TestSeed.Describe(seed)})");
    }
}
