using Pulsarish.Broker.Errors;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Tests;

/// <summary>Subscription types with several consumers joining and leaving, acks, redelivery, seek.</summary>
[TestFixture]
[NonParallelizable]
public sealed class DispatchTests : BrokerTestBase
{
    [Test]
    public async Task FailoverHasOneActiveConsumerChosenByNameAndSwitchesWhenItLeaves()
    {
        var broker = await StartBrokerAsync();
        await CreateNamespaceAsync(broker);
        var topic = await broker.GetOrLoadTopicAsync(TopicName("failover"));
        var b = await TestConsumer.SubscribeAsync(topic, "sub", SubscriptionType.Failover, name: "c-b");
        var a = await TestConsumer.SubscribeAsync(topic, "sub", SubscriptionType.Failover, name: "c-a");
        var c = await TestConsumer.SubscribeAsync(topic, "sub", SubscriptionType.Failover, name: "c-c");
        var producer = topic.AddProducer("p");
        await PublishAsync(topic, producer, 20);

        var first = await a.ReceiveAsync(20);
        Assert.That(first.Select(Text), Is.EqualTo(Enumerable.Range(0, 20).Select(i => $"m-{i}")), "c-a sorts first: active");
        Assert.That(a.Consumer.IsActive && !b.Consumer.IsActive && !c.Consumer.IsActive, Is.True);
        a.Ack(first.Take(10));
        a.Consumer.Close();

        var taken = await b.ReceiveAsync(10);
        Assert.That(taken.Select(Text), Is.EqualTo(Enumerable.Range(10, 10).Select(i => $"m-{i}")), "c-b replays c-a's unacknowledged");
        Assert.That(taken.All(m => m.RedeliveryCount == 0), Is.True, "a consumer leaving is no redelivery request");
        Assert.That(b.ActiveChanges, Is.EqualTo(new[] { true, false, true }), "c-b: active alone, passive when c-a joined, active again");
        b.Ack(taken);
        await PublishAsync(topic, producer, 5, prefix: "later", firstSequenceId: 20);
        var later = await b.ReceiveAsync(5);
        Assert.That(later.Select(Text), Is.EqualTo(Enumerable.Range(0, 5).Select(i => $"later-{i}")));
        Assert.That(await c.ReceiveAsync(TimeSpan.FromMilliseconds(200)), Is.Null, "the passive consumer gets nothing");
        Assert.That(c.ActiveChanges, Is.EqualTo(new[] { false }));

        b.Consumer.Close();
        var last = await c.ReceiveAsync(5);
        Assert.That(last.Select(Text), Is.EqualTo(Enumerable.Range(0, 5).Select(i => $"later-{i}")));
        Assert.That(c.ActiveChanges, Is.EqualTo(new[] { false, true }));
    }

    [Test]
    public async Task FailoverPrefersTheLowestPriorityLevelOverTheName()
    {
        var broker = await StartBrokerAsync();
        await CreateNamespaceAsync(broker);
        var topic = await broker.GetOrLoadTopicAsync(TopicName("failover-priority"));
        var a = await TestConsumer.SubscribeAsync(topic, "sub", SubscriptionType.Failover, name: "a", priority: 1);
        var z = await TestConsumer.SubscribeAsync(topic, "sub", SubscriptionType.Failover, name: "z", priority: 0);
        await PublishAsync(topic, topic.AddProducer("p"), 3);
        Assert.That((await z.ReceiveAsync(3)).Select(Text), Is.EqualTo(new[] { "m-0", "m-1", "m-2" }));
        Assert.That(await a.ReceiveAsync(TimeSpan.FromMilliseconds(200)), Is.Null);
        Assert.That((z.Consumer.IsActive, a.Consumer.IsActive), Is.EqualTo((true, false)));
    }

    [Test]
    public async Task FailoverSpreadsThePartitionsOfATopicOverItsConsumers()
    {
        var broker = await StartBrokerAsync();
        await CreateNamespaceAsync(broker);
        await broker.CreatePartitionedTopicAsync(TopicName("orders"), 2);
        var actives = new List<string>();
        for (int partition = 0; partition < 2; partition++)
        {
            var topic = await broker.GetOrLoadTopicAsync(TopicName($"orders-partition-{partition}"));
            var consumers = new List<TestConsumer>();
            foreach (string name in new[] { "c-1", "c-0" })
            {
                consumers.Add(await TestConsumer.SubscribeAsync(topic, "sub", SubscriptionType.Failover, name: name));
            }
            await PublishAsync(topic, topic.AddProducer("p"), 3, prefix: $"p{partition}");
            var active = consumers.Single(c => c.Consumer.IsActive);
            Assert.That((await active.ReceiveAsync(3)).Select(Text), Is.EqualTo(Enumerable.Range(0, 3).Select(i => $"p{partition}-{i}")));
            Assert.That(await active.DrainAsync(TimeSpan.FromMilliseconds(100)), Is.Empty);
            actives.Add(active.Consumer.Name);
        }
        Assert.That(actives, Is.EqualTo(new[] { "c-0", "c-1" }), "partition i → sorted consumer i mod n");
    }

    [Test]
    public async Task SharedSpreadsOverConsumersAndRedeliversWhatALeavingConsumerHeld()
    {
        var broker = await StartBrokerAsync();
        await CreateNamespaceAsync(broker);
        var topic = await broker.GetOrLoadTopicAsync(TopicName("shared"));
        var consumers = new List<TestConsumer>();
        for (int i = 0; i < 3; i++)
        {
            consumers.Add(await TestConsumer.SubscribeAsync(topic, "sub", SubscriptionType.Shared, name: $"s-{i}"));
        }
        await PublishAsync(topic, topic.AddProducer("p"), 90);
        var received = new List<List<Dispatch.DeliveredMessage>>();
        foreach (var consumer in consumers)
        {
            received.Add(await consumer.DrainAsync(TimeSpan.FromMilliseconds(300)));
        }
        Assert.That(received.Sum(r => r.Count), Is.EqualTo(90));
        Assert.That(received.All(r => r.Count == 30), Is.True, $"round-robin: {string.Join(",", received.Select(r => r.Count))}");
        consumers[0].Ack(received[0]);
        consumers[1].Ack(received[1]);
        // The third consumer leaves without acknowledging: its 30 go to the two others.
        consumers[2].Consumer.Close();
        var redelivered = new List<Dispatch.DeliveredMessage>();
        redelivered.AddRange(await consumers[0].DrainAsync(TimeSpan.FromMilliseconds(300)));
        redelivered.AddRange(await consumers[1].DrainAsync(TimeSpan.FromMilliseconds(300)));
        Assert.That(redelivered.Select(Text).OrderBy(t => t), Is.EqualTo(received[2].Select(Text).OrderBy(t => t)));
        Assert.That(redelivered.All(m => m.RedeliveryCount == 0), Is.True, "a consumer leaving is no redelivery request");
        consumers[0].Ack(redelivered.Where(m => received[0].Count > 0));
        var all = received[0].Concat(received[1]).Select(Text).Concat(redelivered.Select(Text)).ToList();
        Assert.That(all.Distinct().Count(), Is.EqualTo(90), "every message delivered to a live consumer exactly once");
    }

    [Test]
    public async Task KeySharedDeliversEveryKeyToOneConsumerInOrder()
    {
        var broker = await StartBrokerAsync();
        await CreateNamespaceAsync(broker);
        var topic = await broker.GetOrLoadTopicAsync(TopicName("key-shared"));
        var consumers = new List<TestConsumer>();
        for (int i = 0; i < 3; i++)
        {
            consumers.Add(await TestConsumer.SubscribeAsync(topic, "sub", SubscriptionType.KeyShared, name: $"k-{i}", receiverQueue: 50));
        }
        await PublishAsync(topic, topic.AddProducer("p"), 600, key: i => "key-" + (i % 20));
        var owner = new Dictionary<string, int>();
        var lastIndexByKey = new Dictionary<string, int>();
        int total = 0;
        for (int c = 0; c < consumers.Count; c++)
        {
            foreach (var m in await consumers[c].DrainAsync(TimeSpan.FromMilliseconds(500)))
            {
                total++;
                string key = m.Message.Key;
                Assert.That(owner.TryAdd(key, c) || owner[key] == c, Is.True, $"key {key} went to consumers {owner[key]} and {c}");
                int index = int.Parse(Text(m)[2..]);
                Assert.That(index, Is.GreaterThan(lastIndexByKey.GetValueOrDefault(key, -1)), $"order of {key}");
                lastIndexByKey[key] = index;
                consumers[c].Ack(m);
            }
        }
        Assert.That(total, Is.EqualTo(600));
        Assert.That(owner.Values.Distinct().Count(), Is.GreaterThan(1), "keys spread over consumers");
    }

    [Test]
    public async Task KeySharedConsumerThatJoinsLateGetsItsKeysOnlyAfterEarlierMessagesAreAcknowledged()
    {
        var broker = await StartBrokerAsync();
        await CreateNamespaceAsync(broker);
        var topic = await broker.GetOrLoadTopicAsync(TopicName("key-shared-join"));
        var first = await TestConsumer.SubscribeAsync(topic, "sub", SubscriptionType.KeyShared, name: "first");
        var producer = topic.AddProducer("p");
        await PublishAsync(topic, producer, 100, key: i => "key-" + (i % 10));
        var early = await first.ReceiveAsync(100);

        var late = await TestConsumer.SubscribeAsync(topic, "sub", SubscriptionType.KeyShared, name: "late");
        await PublishAsync(topic, producer, 100, prefix: "second", firstSequenceId: 100, key: i => "key-" + (i % 10));
        var firstSecond = await first.DrainAsync(TimeSpan.FromMilliseconds(300));
        Assert.That(await late.DrainAsync(TimeSpan.FromMilliseconds(300)), Is.Empty,
            "keys moved to the late consumer wait while older messages of them are unacknowledged");
        Assert.That(firstSecond.Count, Is.LessThan(100), "the late consumer owns some keys");

        first.Ack(early);
        var lateSecond = await late.DrainAsync(TimeSpan.FromMilliseconds(500));
        first.Ack(firstSecond);
        Assert.That(firstSecond.Count + lateSecond.Count, Is.EqualTo(100));
        Assert.That(firstSecond.Select(m => m.Message.Key).Intersect(lateSecond.Select(m => m.Message.Key)), Is.Empty);
        Assert.That(lateSecond.Select(m => int.Parse(Text(m)["second-".Length..])), Is.Ordered, "per-key order kept");
    }

    [Test]
    public async Task CumulativeAckIsRefusedOnSharedAndKeySharedAndTheSubscriptionKeepsWorking()
    {
        var broker = await StartBrokerAsync();
        await CreateNamespaceAsync(broker);
        var topic = await broker.GetOrLoadTopicAsync(TopicName("cumulative"));
        var shared = await TestConsumer.SubscribeAsync(topic, "shared", SubscriptionType.Shared);
        var keyShared = await TestConsumer.SubscribeAsync(topic, "key-shared", SubscriptionType.KeyShared);
        var exclusive = await TestConsumer.SubscribeAsync(topic, "exclusive", SubscriptionType.Exclusive);
        await PublishAsync(topic, topic.AddProducer("p"), 10);
        foreach (var consumer in new[] { shared, keyShared })
        {
            var messages = await consumer.ReceiveAsync(10);
            var error = Assert.Throws<NotAllowedException>(() => consumer.Consumer.Acknowledge(AckType.Cumulative, [messages[^1].Id]));
            Assert.That(error!.Reason, Is.EqualTo(nameof(ErrorReason.NotAllowed)));
            consumer.Ack(messages);
            Assert.That(consumer.Consumer.Subscription.Cursor.Backlog, Is.EqualTo(0));
        }
        var received = await exclusive.ReceiveAsync(10);
        exclusive.Consumer.Acknowledge(AckType.Cumulative, [received[6].Id]);
        Assert.That(exclusive.Consumer.Subscription.Cursor.Backlog, Is.EqualTo(3), "cumulative ack up to the 7th message");
    }

    [Test]
    public async Task NegativeAckAndAckTimeoutRedeliverWithAHigherRedeliveryCount()
    {
        var broker = await StartBrokerAsync();
        await CreateNamespaceAsync(broker);
        var topic = await broker.GetOrLoadTopicAsync(TopicName("redelivery"));
        var consumer = await TestConsumer.SubscribeAsync(topic, "sub", SubscriptionType.Shared, ackTimeout: TimeSpan.FromMilliseconds(300));
        await PublishAsync(topic, topic.AddProducer("p"), 3);
        var first = await consumer.ReceiveAsync(3);
        consumer.Ack(first[0]);
        consumer.Consumer.NegativeAcknowledge([first[1].Id]);
        var nacked = await consumer.ReceiveAsync(1);
        Assert.That(Text(nacked[0]), Is.EqualTo("m-1"));
        Assert.That(nacked[0].RedeliveryCount, Is.EqualTo(1));
        consumer.Ack(nacked[0]);
        // m-2 is never acknowledged: the ack timeout redelivers it, again and again.
        var timedOut = await consumer.ReceiveAsync(2, TimeSpan.FromSeconds(5));
        Assert.That(timedOut.Select(Text), Is.EqualTo(new[] { "m-2", "m-2" }));
        Assert.That(timedOut.Select(m => m.RedeliveryCount), Is.EqualTo(new[] { 1, 2 }));
    }

    [Test]
    public async Task AConsumerAtItsUnackedBoundGetsMoreOnlyAfterAcknowledging()
    {
        var options = TestOptions();
        options.MaxUnackedEntriesPerConsumer = 5;
        var broker = await StartBrokerAsync(options);
        await CreateNamespaceAsync(broker);
        var topic = await broker.GetOrLoadTopicAsync(TopicName("unacked-bound"));
        var slow = await TestConsumer.SubscribeAsync(topic, "sub", SubscriptionType.Shared, name: "slow");
        await PublishAsync(topic, topic.AddProducer("p"), 12);
        var held = await slow.ReceiveAsync(5);
        Assert.That(await slow.ReceiveAsync(TimeSpan.FromMilliseconds(300)), Is.Null, "5 unacknowledged entries: no more");
        var other = await TestConsumer.SubscribeAsync(topic, "sub", SubscriptionType.Shared, name: "other");
        Assert.That((await other.ReceiveAsync(5)).Count, Is.EqualTo(5), "another consumer takes the next ones");
        slow.Ack(held.Take(2));
        var more = await slow.ReceiveAsync(2);
        Assert.That(held.Concat(more).Select(Text).Distinct().Count(), Is.EqualTo(7));
    }

    [Test]
    public async Task AFullConsumerSinkDelaysDeliveryWithoutLosingOrDuplicatingMessages()
    {
        var broker = await StartBrokerAsync();
        await CreateNamespaceAsync(broker);
        var topic = await broker.GetOrLoadTopicAsync(TopicName("full-sink"));
        // 1000 permits but room for only 3 messages in the sink: the dispatcher must wait, not drop.
        var consumer = await TestConsumer.SubscribeAsync(topic, "sub", SubscriptionType.Exclusive, sinkCapacity: 3);
        await PublishAsync(topic, topic.AddProducer("p"), 20);
        var messages = await consumer.ReceiveAsync(20, TimeSpan.FromSeconds(20));
        Assert.That(messages.Select(Text), Is.EqualTo(Enumerable.Range(0, 20).Select(i => $"m-{i}")));
        Assert.That(messages.All(m => m.RedeliveryCount == 0), Is.True);
        Assert.That(await consumer.ReceiveAsync(TimeSpan.FromMilliseconds(300)), Is.Null);
    }

    [Test]
    public async Task SeekToAMessageIdOrAPublishTimeRedeliversFromThere()
    {
        var broker = await StartBrokerAsync(TestOptions(maxEntriesPerLedger: 30));
        await CreateNamespaceAsync(broker);
        var topic = await broker.GetOrLoadTopicAsync(TopicName("seek"));
        var consumer = await TestConsumer.SubscribeAsync(topic, "sub", SubscriptionType.Exclusive);
        var producer = topic.AddProducer("p");
        var receipts = await PublishAsync(topic, producer, 50);
        await Task.Delay(30);
        long boundary = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        await Task.Delay(30);
        await PublishAsync(topic, producer, 50, prefix: "late", firstSequenceId: 50);
        var all = await consumer.ReceiveAsync(100);
        consumer.Ack(all);
        Assert.That(consumer.Consumer.Subscription.Cursor.Backlog, Is.EqualTo(0));

        await consumer.Consumer.SeekAsync(receipts[40].MessageId);
        var rewound = await consumer.ReceiveAsync(60);
        Assert.That(rewound.Select(Text).Take(10), Is.EqualTo(Enumerable.Range(40, 10).Select(i => $"m-{i}")));
        Assert.That(rewound.Select(Text).Skip(10), Is.EqualTo(Enumerable.Range(0, 50).Select(i => $"late-{i}")));
        consumer.Ack(rewound);

        await consumer.Consumer.SeekAsync(boundary);
        var byTime = await consumer.ReceiveAsync(50);
        Assert.That(byTime.Select(Text), Is.EqualTo(Enumerable.Range(0, 50).Select(i => $"late-{i}")), "binary search by publish time");
        Assert.That(await consumer.ReceiveAsync(TimeSpan.FromMilliseconds(200)), Is.Null);
    }
}
