using System.Text;
using Pulsarish.Broker.Topics;
using Pulsarish.TestKit;

namespace Pulsarish.Client.Tests;

/// <summary>
/// Readers (Pulsar's Reader API) against a real broker and bookies: start positions (earliest, latest, a message id
/// inclusive or not, also inside a batch), HasMessageAvailable, seek with an answer, GetLastMessageId, partitioned
/// topics, the non-durable cursor leaving nothing behind, and <c>pulsarish read</c> through the real binary.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class ReaderTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
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

    private static string NewTopic(string prefix) => $"persistent://public/default/{prefix}-{Guid.NewGuid():N}";

    /// <summary>Sends "m0".."m{n-1}" one by one (one entry each); returns their ids.</summary>
    private async Task<MessageId[]> ProduceAsync(string topic, int count, string prefix = "m")
    {
        await using var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = topic, BatchingEnabled = false });
        var ids = new MessageId[count];
        for (int i = 0; i < count; i++)
        {
            ids[i] = await producer.SendAsync(Encoding.UTF8.GetBytes($"{prefix}{i}"));
        }

        return ids;
    }

    private static async Task<List<string>> ReadAsync(Reader reader, int count)
    {
        using var timeout = new CancellationTokenSource(Wait);
        var payloads = new List<string>();
        for (int i = 0; i < count; i++)
        {
            var message = await reader.ReadNextAsync(timeout.Token);
            payloads.Add(Encoding.UTF8.GetString(message.Payload.Span));
        }

        return payloads;
    }

    [Test]
    public async Task ReaderFromEarliestReadsEverythingThenHasNoMessageAvailable()
    {
        string topic = NewTopic("reader-earliest");
        await ProduceAsync(topic, 5);
        await using var reader = await _client.CreateReaderAsync(new ReaderOptions { Topic = topic, StartMessageId = MessageId.Earliest });

        Assert.That(await reader.HasMessageAvailableAsync(), Is.True, "5 stored messages, none read");
        Assert.That(await ReadAsync(reader, 5), Is.EqualTo(new[] { "m0", "m1", "m2", "m3", "m4" }));
        Assert.That(await reader.HasMessageAvailableAsync(), Is.False, "everything stored was read");
        Assert.That(await reader.ReadNextAsync(TimeSpan.FromMilliseconds(300)), Is.Null);

        await ProduceAsync(topic, 1, "late");
        Assert.That(await reader.HasMessageAvailableAsync(), Is.True, "a message was published after the last read");
        Assert.That(await ReadAsync(reader, 1), Is.EqualTo(new[] { "late0" }));
    }

    [Test]
    public async Task ReaderFromMessageIdIsInclusiveOrExclusive()
    {
        string topic = NewTopic("reader-id");
        var ids = await ProduceAsync(topic, 5);

        await using (var inclusive = await _client.CreateReaderAsync(new ReaderOptions
                     {
                         Topic = topic, StartMessageId = ids[2], StartMessageIdInclusive = true,
                     }))
        {
            Assert.That(await ReadAsync(inclusive, 3), Is.EqualTo(new[] { "m2", "m3", "m4" }));
            Assert.That(await inclusive.HasMessageAvailableAsync(), Is.False);
        }

        await using var exclusive = await _client.CreateReaderAsync(new ReaderOptions { Topic = topic, StartMessageId = ids[2] });
        Assert.That(await exclusive.HasMessageAvailableAsync(), Is.True);
        Assert.That(await ReadAsync(exclusive, 2), Is.EqualTo(new[] { "m3", "m4" }));
        Assert.That(await exclusive.HasMessageAvailableAsync(), Is.False);
    }

    [Test]
    public async Task ReaderFromMessageIdInsideABatchSkipsTheBatchMessagesBeforeIt()
    {
        string topic = NewTopic("reader-batch");
        MessageId[] ids;
        await using (var producer = await _client.CreateProducerAsync(new ProducerOptions
                     {
                         Topic = topic, BatchingMaxPublishDelay = TimeSpan.FromMilliseconds(500), BatchingMaxMessages = 5,
                     }))
        {
            var sends = new Task<MessageId>[5];
            for (int i = 0; i < 5; i++)
            {
                sends[i] = producer.SendAsync(Encoding.UTF8.GetBytes($"b{i}"));
            }

            ids = await Task.WhenAll(sends);
        }

        Assert.That(ids.Select(id => (id.LedgerId, id.EntryId)).Distinct().Count(), Is.EqualTo(1), "one batch, one entry");
        await using (var exclusive = await _client.CreateReaderAsync(new ReaderOptions { Topic = topic, StartMessageId = ids[2] }))
        {
            Assert.That(await ReadAsync(exclusive, 2), Is.EqualTo(new[] { "b3", "b4" }));
        }

        await using var inclusive = await _client.CreateReaderAsync(new ReaderOptions
        {
            Topic = topic, StartMessageId = ids[2], StartMessageIdInclusive = true,
        });
        Assert.That(await ReadAsync(inclusive, 3), Is.EqualTo(new[] { "b2", "b3", "b4" }));
    }

    [Test]
    public async Task ReaderFromLatestGetsOnlyNewMessages()
    {
        string topic = NewTopic("reader-latest");
        await ProduceAsync(topic, 3, "old");
        await using var reader = await _client.CreateReaderAsync(new ReaderOptions { Topic = topic, StartMessageId = MessageId.Latest });
        Assert.That(await reader.HasMessageAvailableAsync(), Is.False, "nothing after the start");

        await ProduceAsync(topic, 2, "new");
        Assert.That(await reader.HasMessageAvailableAsync(), Is.True);
        Assert.That(await ReadAsync(reader, 2), Is.EqualTo(new[] { "new0", "new1" }));
        Assert.That(await reader.HasMessageAvailableAsync(), Is.False);

        await using var inclusive = await _client.CreateReaderAsync(new ReaderOptions
        {
            Topic = topic, StartMessageId = MessageId.Latest, StartMessageIdInclusive = true,
        });
        Assert.That(await ReadAsync(inclusive, 1), Is.EqualTo(new[] { "new1" }), "latest inclusive starts at the last message");
    }

    [Test]
    public async Task ReaderLeavesNoSubscriptionBehind()
    {
        string topic = NewTopic("reader-gone");
        await ProduceAsync(topic, 2);
        var broker = _cluster.Cluster.Broker.Service;
        string topicPath = ManagedLedgerPaths.Topic(TopicName.Parse(topic));

        await using (var reader = await _client.CreateReaderAsync(new ReaderOptions { Topic = topic, StartMessageId = MessageId.Earliest }))
        {
            Assert.That(await ReadAsync(reader, 2), Is.EqualTo(new[] { "m0", "m1" }));
            var stats = await broker.GetStatsAsync(topic);
            Assert.That(stats.Subscriptions.Select(s => s.Name), Is.EqualTo(new[] { reader.SubscriptionName }),
                "the reader's subscription is listed while it reads");
            var records = await _cluster.Cluster.MetadataStore.GetChildrenAsync(topicPath);
            Assert.That(records.Select(ManagedLedgerPaths.CursorName), Does.Not.Contain(reader.SubscriptionName),
                "a non-durable cursor has no metadata record");
        }

        await Eventually.That(async () => (await broker.GetStatsAsync(topic)).Subscriptions.Count == 0, Wait,
            "the reader's subscription disappears when the reader closes");
        var after = await _cluster.Cluster.MetadataStore.GetChildrenAsync(topicPath);
        Assert.That(after.Select(ManagedLedgerPaths.CursorName).Where(n => n != ManagedLedgerPaths.DeduplicationCursor), Is.Empty);
    }

    [Test]
    public async Task ReaderResumesAfterTheLastMessageReadWhenTheTopicMoves()
    {
        string topic = NewTopic("reader-reconnect");
        await ProduceAsync(topic, 5);
        await using var reader = await _client.CreateReaderAsync(new ReaderOptions { Topic = topic, StartMessageId = MessageId.Earliest });
        Assert.That(await ReadAsync(reader, 3), Is.EqualTo(new[] { "m0", "m1", "m2" }));

        // The non-durable cursor dies with the topic's unload; the reader resubscribes after m2, not at its start.
        await _cluster.Cluster.Broker.Service.UnloadTopicAsync(topic);
        Assert.That(await ReadAsync(reader, 2), Is.EqualTo(new[] { "m3", "m4" }));
        Assert.That(await reader.HasMessageAvailableAsync(), Is.False);
    }

    [Test]
    public async Task ReaderMovesItsInMemoryCursorAsItReads()
    {
        string topic = NewTopic("reader-cursor");
        await ProduceAsync(topic, 10);
        await using var reader = await _client.CreateReaderAsync(new ReaderOptions
        {
            Topic = topic, StartMessageId = MessageId.Earliest, ReceiverQueueSize = 4,
        });
        Assert.That(await ReadAsync(reader, 10), Has.Count.EqualTo(10));
        var broker = _cluster.Cluster.Broker.Service;
        await Eventually.That(async () => (await broker.GetStatsAsync(topic)).Subscriptions.Single().BacklogEntries == 0, Wait,
            "the reader acknowledged cumulatively with its permits, so the broker does not hold its entries pending");
    }

    [Test]
    public async Task GetLastMessageIdBeforeAndAfterProduce()
    {
        string topic = NewTopic("last-id");
        await using var consumer = await _client.SubscribeAsync(new ConsumerOptions { Topic = topic, SubscriptionName = "s" });
        var empty = await consumer.GetLastMessageIdAsync();
        Assert.That((empty.LedgerId, empty.EntryId), Is.EqualTo((-1L, -1L)), "nothing stored yet");

        var ids = await ProduceAsync(topic, 3);
        var last = await consumer.GetLastMessageIdAsync();
        Assert.That(last, Is.EqualTo(ids[2]), "the id of the last message sent");
        Assert.That(last.Topic, Is.EqualTo(topic));

        await using var reader = await _client.CreateReaderAsync(new ReaderOptions { Topic = topic, StartMessageId = MessageId.Earliest });
        Assert.That(await reader.GetLastMessageIdAsync(), Is.EqualTo(ids[2]));
    }

    [Test]
    public async Task PartitionedTopicReaderAndLastMessageIds()
    {
        string topic = NewTopic("reader-partitioned");
        await _cluster.Cluster.Broker.Service.CreatePartitionedTopicAsync(topic, 3);
        await using var reader = await _client.CreateReaderAsync(new ReaderOptions { Topic = topic, StartMessageId = MessageId.Earliest });
        var before = await reader.GetLastMessageIdsAsync();
        Assert.That(before, Has.Count.EqualTo(3));
        Assert.That(before.All(id => id.EntryId == -1), Is.True, "no partition has a message");
        Assert.That(await reader.HasMessageAvailableAsync(), Is.False);
        Assert.ThrowsAsync<PulsarishClientException>(() => reader.GetLastMessageIdAsync(), "one id for three partitions");

        var sent = new List<MessageId>();
        await using (var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = topic, BatchingEnabled = false }))
        {
            for (int i = 0; i < 6; i++)
            {
                sent.Add(await producer.SendAsync(Encoding.UTF8.GetBytes($"p{i}")));
            }
        }

        var after = await reader.GetLastMessageIdsAsync();
        var expected = sent.GroupBy(id => id.Partition).Select(g => g.Max()).OrderBy(id => id.Partition).ToList();
        Assert.That(after.OrderBy(id => id.Partition).ToList(), Is.EqualTo(expected), "each partition's last message");
        Assert.That(await reader.HasMessageAvailableAsync(), Is.True);
        Assert.That((await ReadAsync(reader, 6)).Order(), Is.EqualTo(new[] { "p0", "p1", "p2", "p3", "p4", "p5" }));
        Assert.That(await reader.HasMessageAvailableAsync(), Is.False);

        await reader.SeekAsync(MessageId.Earliest);
        Assert.That((await ReadAsync(reader, 6)).Order(), Is.EqualTo(new[] { "p0", "p1", "p2", "p3", "p4", "p5" }),
            "seek to earliest on every partition");
    }

    [Test]
    public async Task SeekMovesTheReaderByIdAndByPublishTime()
    {
        string topic = NewTopic("reader-seek");
        var ids = await ProduceAsync(topic, 3, "a");
        await Task.Delay(50);
        var middle = DateTimeOffset.UtcNow;
        await Task.Delay(50);
        await ProduceAsync(topic, 2, "b");
        await using var reader = await _client.CreateReaderAsync(new ReaderOptions { Topic = topic, StartMessageId = MessageId.Earliest });
        Assert.That(await ReadAsync(reader, 5), Is.EqualTo(new[] { "a0", "a1", "a2", "b0", "b1" }));

        await reader.SeekAsync(ids[1]);
        Assert.That(await ReadAsync(reader, 4), Is.EqualTo(new[] { "a1", "a2", "b0", "b1" }), "seek to an id: it comes next");

        await reader.SeekAsync(middle);
        Assert.That(await reader.HasMessageAvailableAsync(), Is.True);
        Assert.That(await ReadAsync(reader, 2), Is.EqualTo(new[] { "b0", "b1" }), "seek by publish time");
        Assert.That(await reader.HasMessageAvailableAsync(), Is.False);

        await reader.SeekAsync(MessageId.Latest);
        Assert.That(await reader.HasMessageAvailableAsync(), Is.False);
        await ProduceAsync(topic, 1, "c");
        Assert.That(await ReadAsync(reader, 1), Is.EqualTo(new[] { "c0" }));
    }

    [Test]
    public async Task CliReadPrintsFromTheStartMessageId()
    {
        string topic = NewTopic("cli-read");
        var ids = await ProduceAsync(topic, 4, "line");

        var (code, output, error) = await PulsarishCli.RunSeparatelyAsync("read", topic, "--start-message-id", "earliest",
            "-n", "4", "--service-url", _cluster.Address, "--timeout-seconds", "30");
        Assert.That(code, Is.EqualTo(0), error);
        Assert.That(output, Does.Contain("line0").And.Contain("line3").And.Contain("4 messages successfully read"));

        string start = $"{ids[1].LedgerId}:{ids[1].EntryId}";
        (code, output, error) = await PulsarishCli.RunSeparatelyAsync("read", topic, "--start-message-id", start, "--inclusive",
            "-n", "3", "--hex", "--service-url", _cluster.Address, "--timeout-seconds", "30");
        Assert.That(code, Is.EqualTo(0), error);
        Assert.That(output, Does.Contain(Convert.ToHexString(Encoding.UTF8.GetBytes("line1")).ToLowerInvariant()));
        Assert.That(output, Does.Not.Contain(Convert.ToHexString(Encoding.UTF8.GetBytes("line0")).ToLowerInvariant()));
        await Eventually.That(async () => (await _cluster.Cluster.Broker.Service.GetStatsAsync(topic)).Subscriptions.Count == 0,
            Wait, "the CLI reader left no subscription");
    }
}
