using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using Pulsarish.Broker;
using Pulsarish.TestKit;

namespace Pulsarish.Client.Tests;

/// <summary>
/// Delayed delivery through the SDK against a real in-process cluster (broker + 3 bookies): Shared and Key_Shared
/// hold a message until its deliver-at time and never deliver it earlier; Exclusive delivers at once (as Pulsar).
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class DelayedDeliveryTests
{
    /// <summary>Clock granularity allowed between the broker's check and the consumer's reading of the same clock.</summary>
    private const long ClockSlackMillis = 2;

    private TempDir _dir = null!;
    private StandaloneCluster _cluster = null!;
    private PulsarishClient _client = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _dir = new TempDir("delayed-tests");
        _cluster = await StandaloneCluster.StartAsync(new StandaloneOptions
        {
            DataDir = _dir.Path,
            Port = 0,
            Broker = new BrokerOptions { DelayedDeliveryTick = TimeSpan.FromMilliseconds(100) },
            ConfigureLogging = logging => logging.SetMinimumLevel(LogLevel.Warning)
                .AddFilter("Microsoft", LogLevel.Error).AddFilter("Grpc", LogLevel.Error)
                .AddSimpleConsole(c => c.SingleLine = true),
        });
        _client = new PulsarishClient(new PulsarishClientOptions
        {
            ServiceUrls = [_cluster.BrokerAddress],
            OperationTimeout = TimeSpan.FromSeconds(30),
            InitialReconnectDelay = TimeSpan.FromMilliseconds(50),
            MaxReconnectDelay = TimeSpan.FromSeconds(1),
        });
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        await _client.DisposeAsync();
        await _cluster.DisposeAsync();
        _dir.Dispose();
    }

    [Test]
    public async Task SharedDeliversTenThousandRandomlyDelayedMessagesNoneBeforeItsTime()
    {
        int seed = TestSeed.Use();
        string topic = $"delayed-shared-{Guid.NewGuid():N}";
        await using var consumer = await SubscribeAsync(topic, SubscriptionType.Shared);
        var due = await DelayedTraffic.SendAsync(_client, topic, 10_000, TimeSpan.FromSeconds(30), new Random(seed));

        var received = await DelayedTraffic.ReceiveAllAsync(consumer, due.Length, TimeSpan.FromSeconds(120), seed);
        DelayedTraffic.AssertNoneEarly(due, received, ClockSlackMillis, seed);
    }

    [Test]
    public async Task KeySharedHoldsDelayedMessagesUntilDue()
    {
        int seed = TestSeed.Use();
        string topic = $"delayed-keyshared-{Guid.NewGuid():N}";
        await using var consumer = await SubscribeAsync(topic, SubscriptionType.KeyShared);
        var due = await DelayedTraffic.SendAsync(_client, topic, 500, TimeSpan.FromSeconds(3), new Random(seed));

        var received = await DelayedTraffic.ReceiveAllAsync(consumer, due.Length, TimeSpan.FromSeconds(60), seed);
        DelayedTraffic.AssertNoneEarly(due, received, ClockSlackMillis, seed);
    }

    [TestCase(SubscriptionType.Exclusive)]
    [TestCase(SubscriptionType.Failover)]
    public async Task SingleActiveConsumerSubscriptionsDeliverDelayedMessagesAtOnce(SubscriptionType type)
    {
        string topic = $"delayed-{type}-{Guid.NewGuid():N}";
        await using var consumer = await SubscribeAsync(topic, type);
        await using var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = topic });
        var deliverAt = DateTimeOffset.UtcNow.AddMinutes(10);
        for (int i = 0; i < 20; i++)
        {
            await producer.SendAsync(new OutgoingMessage(new byte[] { (byte)i }) { DeliverAt = deliverAt });
        }

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        for (int i = 0; i < 20; i++)
        {
            var message = await consumer.ReceiveAsync(deadline.Token);
            Assert.That(message.Payload.Span[0], Is.EqualTo((byte)i), $"{type} delivers delayed messages at once, in order");
            await consumer.AcknowledgeAsync(message.MessageId);
        }
        Assert.That(DateTimeOffset.UtcNow, Is.LessThan(deliverAt), "delivered long before the deliver-at time");
    }

    [Test]
    public async Task NegativelyAcknowledgedDelayedMessageIsRedeliveredAtOnce()
    {
        string topic = $"delayed-nack-{Guid.NewGuid():N}";
        await using var consumer = await _client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "sub", SubscriptionType = SubscriptionType.Shared,
            InitialPosition = SubscriptionInitialPosition.Earliest,
        });
        await using var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = topic });
        long sentAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await producer.SendAsync(new OutgoingMessage(new byte[] { 7 }) { DeliverAfter = TimeSpan.FromSeconds(2) });

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var first = await consumer.ReceiveAsync(deadline.Token);
        long firstAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        Assert.That(firstAt, Is.GreaterThanOrEqualTo(sentAt + 2000 - ClockSlackMillis), "not before its time");
        consumer.NegativeAcknowledge(first.MessageId);
        var again = await consumer.ReceiveAsync(deadline.Token);
        Assert.That(again.MessageId, Is.EqualTo(first.MessageId));
        Assert.That(again.RedeliveryCount, Is.EqualTo(1));
        await consumer.AcknowledgeAsync(again.MessageId);
    }

    private Task<Consumer> SubscribeAsync(string topic, SubscriptionType type) => _client.SubscribeAsync(new ConsumerOptions
    {
        Topic = topic, SubscriptionName = "sub", SubscriptionType = type,
        InitialPosition = SubscriptionInitialPosition.Earliest,
    });
}

/// <summary>Sends and checks randomly delayed messages (shared with the cluster tests by copy of its shape).</summary>
internal static class DelayedTraffic
{
    /// <summary>
    /// Sends <paramref name="count"/> messages whose payload is their index, each delayed by a random time up to
    /// <paramref name="maxDelay"/> (a tenth not delayed; half by DeliverAt, half by DeliverAfter). Returns each one's
    /// deliver-at time in Unix ms as a lower bound (for DeliverAfter: the time before the send plus the delay).
    /// </summary>
    public static async Task<long[]> SendAsync(PulsarishClient client, string topic, int count, TimeSpan maxDelay, Random random)
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
        await Task.WhenAll(sends);
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
                await consumer.AcknowledgeAsync(toAck);
                toAck.Clear();
            }
        }
        if (toAck.Count > 0)
        {
            await consumer.AcknowledgeAsync(toAck);
        }
        return receivedAt;
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
