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
            NegativeAckRedeliveryDelay = TimeSpan.Zero,   // the SDK's default is Pulsar's 1 min
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

    [Test]
    public async Task HeldMessagesCountInTheBacklogAndSurviveABrokerRestart()
    {
        int seed = TestSeed.Use();
        string topic = $"persistent://public/default/delayed-restart-{Guid.NewGuid():N}";
        var consumer = await SubscribeAsync(topic, SubscriptionType.Shared);
        try
        {
            var ids = new List<MessageId>();
            var due = await DelayedTraffic.SendAsync(_client, topic, 200, TimeSpan.FromSeconds(5), new Random(seed), ids);
            // Backlog counts entries: each delayed message is one; consecutive undelayed ones may share a batch.
            int entries = ids.Select(id => (id.LedgerId, id.EntryId)).Distinct().Count();
            Assert.That(Enumerable.Range(0, due.Length).Where(i => due[i] != 0 && ids[i].BatchSize > 1), Is.Empty,
                "every delayed message is sent in an entry of its own");
            await Eventually.That(async () => await BacklogAsync(topic) == entries, TimeSpan.FromSeconds(30),
                $"every sent entry ({entries}), held or not, is in the backlog until acknowledged");
            long restartAt = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
            long laterThanRestart = due.Count(d => d > restartAt);

            // The tracker is rebuilt from the log by the restarted broker (the same path as a new owner's).
            await _cluster.RestartBrokerAsync();
            var received = await DelayedTraffic.ReceiveAllAsync(consumer, due.Length, TimeSpan.FromSeconds(60), seed);
            DelayedTraffic.AssertNoneEarly(due, received, ClockSlackMillis, seed);
            Assert.That(laterThanRestart, Is.GreaterThan(0), "some messages were still held when the broker restarted");
            await Eventually.That(async () => await BacklogAsync(topic) == 0, TimeSpan.FromSeconds(30), "acknowledged: no backlog");
        }
        finally
        {
            await consumer.DisposeAsync();
        }
    }

    [Test]
    public async Task NamespacePolicyDisablesDelayedDelivery()
    {
        string ns = $"nodelay{Guid.NewGuid():N}";
        await _cluster.Broker.Service.Namespaces.CreateNamespaceAsync("public", ns,
            new Pulsarish.Broker.Admin.Policies { EnsembleSize = 3, WriteQuorum = 2, AckQuorum = 2, DelayedDeliveryEnabled = false });
        string topic = $"persistent://public/{ns}/t";
        await using var consumer = await SubscribeAsync(topic, SubscriptionType.Shared);
        await using var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = topic });
        await producer.SendAsync(new OutgoingMessage(new byte[] { 1 }) { DeliverAfter = TimeSpan.FromMinutes(10) });

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        var message = await consumer.ReceiveAsync(deadline.Token);
        Assert.That(message.Payload.Span[0], Is.EqualTo(1), "with delayed delivery off, a delayed message is delivered at once");
    }

    private async Task<long> BacklogAsync(string topic)
    {
        var stats = await _cluster.Broker.Service.GetStatsAsync(topic);
        return stats.Subscriptions.Single(s => s.Name == "sub").BacklogEntries;
    }

    private Task<Consumer> SubscribeAsync(string topic, SubscriptionType type) => _client.SubscribeAsync(new ConsumerOptions
    {
        Topic = topic, SubscriptionName = "sub", SubscriptionType = type,
        InitialPosition = SubscriptionInitialPosition.Earliest,
    });
}
