using System.Text;
using Pulsarish.Protocol.Broker;
using Pulsarish.TestKit;

namespace Pulsarish.Client.Tests;

/// <summary>
/// Multi-topic consumers (Pulsar's topics list and topics pattern) against a real broker and bookies: messages of
/// every topic arrive with their topic, acks go to the right topic's subscription (checked through the admin
/// backlog across a broker restart), a pattern picks up a topic created later, and <c>pulsarish consume --regex</c>
/// through the real binary.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class MultiTopicConsumerTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private InProcessCluster _cluster = null!;
    private PulsarishClient _client = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _cluster = await InProcessCluster.StartAsync();
        _client = _cluster.NewClient();
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        await _client.DisposeAsync();
        await _cluster.DisposeAsync();
    }

    private async Task ProduceAsync(string topic, int count, string prefix)
    {
        await using var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = topic, BatchingEnabled = false });
        for (int i = 0; i < count; i++)
        {
            await producer.SendAsync(Encoding.UTF8.GetBytes($"{prefix}{i}"));
        }
    }

    private static async Task<List<Message>> ReceiveAsync(Consumer consumer, int count)
    {
        using var timeout = new CancellationTokenSource(Wait);
        var messages = new List<Message>();
        for (int i = 0; i < count; i++)
        {
            messages.Add(await consumer.ReceiveAsync(timeout.Token));
        }

        return messages;
    }

    private static string Text(Message m) => Encoding.UTF8.GetString(m.Payload.Span);

    [Test]
    public async Task AcksGoToTheTopicOfTheMessageAndSurviveARestart()
    {
        string id = Guid.NewGuid().ToString("N");
        string a = $"persistent://public/default/multi-a-{id}";
        string b = $"persistent://public/default/multi-b-{id}";
        var options = new ConsumerOptions
        {
            Topics = [a, b], SubscriptionName = "multi", InitialPosition = SubscriptionInitialPosition.Earliest,
        };
        await using (var consumer = await _client.SubscribeAsync(options))
        {
            Assert.That(consumer.Topics, Is.EquivalentTo(new[] { a, b }));
            await ProduceAsync(a, 4, "a");
            await ProduceAsync(b, 4, "b");
            var messages = await ReceiveAsync(consumer, 8);
            foreach (var m in messages)
            {
                Assert.That(Text(m)[0], Is.EqualTo(m.Topic == a ? 'a' : 'b'), $"{Text(m)} carries its topic {m.Topic}");
                Assert.That(m.MessageId.Topic, Is.EqualTo(m.Topic));
            }

            var fromA = messages.Where(m => m.Topic == a).ToList();
            var fromB = messages.Where(m => m.Topic == b).ToList();
            Assert.That(fromA.Select(Text), Is.EqualTo(new[] { "a0", "a1", "a2", "a3" }), "per-topic order");
            Assert.That(fromB.Select(Text), Is.EqualTo(new[] { "b0", "b1", "b2", "b3" }), "per-topic order");

            // All of a individually; b only up to b1 cumulatively. Same ledger and entry ids may exist on both topics:
            // only the topic in the id tells them apart.
            await consumer.AcknowledgeAsync(fromA.Select(m => m.MessageId));
            await consumer.AcknowledgeCumulativeAsync(fromB[1].MessageId);
        }

        var broker = _cluster.Cluster.Broker.Service;
        Assert.That((await broker.GetStatsAsync(a)).Subscriptions.Single().BacklogEntries, Is.EqualTo(0));
        Assert.That((await broker.GetStatsAsync(b)).Subscriptions.Single().BacklogEntries, Is.EqualTo(2));

        await _cluster.Cluster.RestartBrokerAsync();
        broker = _cluster.Cluster.Broker.Service;
        Assert.That((await broker.GetStatsAsync(a)).Subscriptions.Single().BacklogEntries, Is.EqualTo(0), "after the restart");
        Assert.That((await broker.GetStatsAsync(b)).Subscriptions.Single().BacklogEntries, Is.EqualTo(2), "after the restart");

        await using var again = await _client.SubscribeAsync(options);
        var rest = await ReceiveAsync(again, 2);
        Assert.That(rest.Select(m => (m.Topic, Text(m))), Is.EqualTo(new[] { (b, "b2"), (b, "b3") }));
        using var quiet = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        Assert.That(async () => await again.ReceiveAsync(quiet.Token), Throws.InstanceOf<OperationCanceledException>(),
            "nothing of a is redelivered");
    }

    [Test]
    public async Task MultiTopicConsumerCoversPartitionedTopicsAndRejectsIdsWithoutTopic()
    {
        string id = Guid.NewGuid().ToString("N");
        string plain = $"persistent://public/default/mix-plain-{id}";
        string partitioned = $"persistent://public/default/mix-parted-{id}";
        await _cluster.Cluster.Broker.Service.CreatePartitionedTopicAsync(partitioned, 2);
        await using var consumer = await _client.SubscribeAsync(new ConsumerOptions
        {
            Topics = [plain, partitioned], SubscriptionName = "mix", SubscriptionType = SubscriptionType.Shared,
            InitialPosition = SubscriptionInitialPosition.Earliest,
        });
        await ProduceAsync(plain, 2, "x");
        await ProduceAsync(partitioned, 4, "y");
        var messages = await ReceiveAsync(consumer, 6);
        Assert.That(messages.Select(Text).Order(), Is.EqualTo(new[] { "x0", "x1", "y0", "y1", "y2", "y3" }));
        Assert.That(messages.Where(m => Text(m)[0] == 'y').Select(m => m.Topic).Distinct().Order(),
            Is.EqualTo(new[] { partitioned + "-partition-0", partitioned + "-partition-1" }));
        foreach (var m in messages)
        {
            await consumer.AcknowledgeAsync(m);
        }

        var bare = new MessageId(messages[0].MessageId.LedgerId, messages[0].MessageId.EntryId);
        var error = Assert.ThrowsAsync<PulsarishClientException>(() => consumer.AcknowledgeAsync(bare));
        Assert.That(error!.ErrorReason, Is.EqualTo(ErrorReason.InvalidMessageId));
        var lastIds = await consumer.GetLastMessageIdsAsync();
        Assert.That(lastIds.Select(i => i.Topic), Is.EquivalentTo(new[] { plain, partitioned + "-partition-0", partitioned + "-partition-1" }));
    }

    [Test]
    public async Task PatternConsumerPicksUpATopicCreatedAfterItStarted()
    {
        string id = Guid.NewGuid().ToString("N")[..12];
        string first = $"persistent://public/default/pat-{id}-1";
        string later = $"persistent://public/default/pat-{id}-2";
        string other = $"persistent://public/default/nopat-{id}-3";
        await ProduceAsync(first, 1, "first");
        await ProduceAsync(other, 1, "other");
        await using var consumer = await _client.SubscribeAsync(new ConsumerOptions
        {
            TopicsPattern = $"persistent://public/default/pat-{id}-.*",
            SubscriptionName = "pattern",
            InitialPosition = SubscriptionInitialPosition.Earliest,
            PatternAutoDiscoveryPeriod = TimeSpan.FromMilliseconds(500),
        });
        Assert.That(consumer.Topics, Is.EqualTo(new[] { first }));
        var m1 = await ReceiveAsync(consumer, 1);
        Assert.That((m1[0].Topic, Text(m1[0])), Is.EqualTo((first, "first0")));

        await ProduceAsync(later, 2, "later");
        await Eventually.That(() => consumer.Topics.Contains(later), Wait, "discovery subscribes to the new topic");
        var m2 = await ReceiveAsync(consumer, 2);
        Assert.That(m2.Select(m => (m.Topic, Text(m))), Is.EqualTo(new[] { (later, "later0"), (later, "later1") }));
        await consumer.AcknowledgeAsync(m2[1]);
        Assert.That(consumer.Topics, Does.Not.Contain(other));
    }

    [Test]
    public async Task PatternMustBeAValidRegexOverOneNamespace()
    {
        var bad = Assert.ThrowsAsync<PulsarishClientException>(() => _client.GetTopicsOfNamespaceAsync("public/default", "orders-(("));
        Assert.That(bad!.ErrorReason, Is.EqualTo(ErrorReason.InvalidTopicsPattern));
        Assert.ThrowsAsync<ArgumentException>(() => _client.SubscribeAsync(new ConsumerOptions
        {
            TopicsPattern = "persistent://public/.*/orders", SubscriptionName = "s",
        }));
    }

    [Test]
    public async Task CliConsumeRegexPrintsHexFromEveryMatchingTopic()
    {
        string id = Guid.NewGuid().ToString("N")[..12];
        string t1 = $"persistent://public/default/cli-rx-{id}-1";
        string t2 = $"persistent://public/default/cli-rx-{id}-2";
        await ProduceAsync(t1, 1, "one");
        await ProduceAsync(t2, 1, "two");

        var (code, output, error) = await PulsarishCli.RunSeparatelyAsync("consume", $"persistent://public/default/cli-rx-{id}-.*",
            "--regex", "-s", "cli", "-t", "key_shared", "-p", "Earliest", "-n", "2", "--hex",
            "--service-url", _cluster.Address, "--timeout-seconds", "30");
        Assert.That(code, Is.EqualTo(0), output + error);
        Assert.That(output, Does.Contain(Convert.ToHexString(Encoding.UTF8.GetBytes("one0")).ToLowerInvariant()));
        Assert.That(output, Does.Contain(Convert.ToHexString(Encoding.UTF8.GetBytes("two0")).ToLowerInvariant()));
        Assert.That(output, Does.Contain($"topic={t1}").And.Contain($"topic={t2}"));
        Assert.That(output, Does.Contain("2 messages successfully consumed"));

        var broker = _cluster.Cluster.Broker.Service;
        await Eventually.That(async () => (await broker.GetStatsAsync(t1)).Subscriptions.Single().BacklogEntries == 0
                                          && (await broker.GetStatsAsync(t2)).Subscriptions.Single().BacklogEntries == 0,
            Wait, "the CLI acknowledged each message on its own topic");

        (code, _, error) = await PulsarishCli.RunSeparatelyAsync("consume", t1, "-s", "cli2", "-t", "Key_Shared",
            "-p", "sideways", "--service-url", _cluster.Address);
        Assert.That(code, Is.EqualTo(2));
        Assert.That(error, Does.Contain("--initial-position"));
    }
}
