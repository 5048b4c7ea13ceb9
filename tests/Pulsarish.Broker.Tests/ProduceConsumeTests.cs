using System.Diagnostics;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Tests;

/// <summary>End-to-end through the engine on real bookies: publish, dispatch per subscription type, acknowledge.</summary>
[TestFixture]
[NonParallelizable]
public sealed class ProduceConsumeTests : BrokerTestBase
{
    [Test]
    public async Task TenThousandMessagesAreConsumedInOrderExactlyOnceByEverySubscriptionType()
    {
        var broker = await StartBrokerAsync();
        await CreateNamespaceAsync(broker);
        var topic = await broker.GetOrLoadTopicAsync(TopicName("ten-k"));
        var types = new[] { SubscriptionType.Exclusive, SubscriptionType.Failover, SubscriptionType.Shared, SubscriptionType.KeyShared };
        var consumers = new List<TestConsumer>();
        foreach (var type in types)
        {
            consumers.Add(await TestConsumer.SubscribeAsync(topic, "sub-" + type, type, InitialPosition.Latest));
        }
        var producer = topic.AddProducer("p");
        const int count = 10_000;
        var watch = Stopwatch.StartNew();
        var receipts = await PublishAsync(topic, producer, count, key: i => "k" + (i % 7));
        TestContext.Out.WriteLine($"published {count} in {watch.ElapsedMilliseconds} ms");
        for (int i = 1; i < count; i++)
        {
            Assert.That(receipts[i].MessageId.Position, Is.GreaterThan(receipts[i - 1].MessageId.Position), "receipts in send order");
        }
        for (int c = 0; c < types.Length; c++)
        {
            var messages = await consumers[c].ReceiveAsync(count, TimeSpan.FromSeconds(60));
            for (int i = 0; i < count; i++)
            {
                Assert.That(Text(messages[i]), Is.EqualTo($"m-{i}"), $"{types[c]} message {i}");
                Assert.That(messages[i].Id.Position, Is.EqualTo(receipts[i].MessageId.Position));
            }
            consumers[c].Ack(messages);
            Assert.That(await consumers[c].ReceiveAsync(TimeSpan.FromMilliseconds(200)), Is.Null, $"{types[c]}: nothing more");
        }
        TestContext.Out.WriteLine($"published and consumed 4 × {count} in {watch.ElapsedMilliseconds} ms");
        var stats = topic.GetStats();
        foreach (var sub in stats.Subscriptions)
        {
            Assert.That(sub.BacklogEntries, Is.EqualTo(0), sub.Name);
            Assert.That(sub.MessagesOut, Is.EqualTo(count), sub.Name);
        }
        Assert.That(stats.MessagesInTotal, Is.EqualTo(count));
    }

    [Test]
    public async Task ConcurrentProducersKeepTheirOwnOrderInTheLog()
    {
        var broker = await StartBrokerAsync(TestOptions(maxEntriesPerLedger: 500));
        await CreateNamespaceAsync(broker);
        var topic = await broker.GetOrLoadTopicAsync(TopicName("many-producers"));
        var consumer = await TestConsumer.SubscribeAsync(topic, "sub", SubscriptionType.Exclusive);
        var producers = Enumerable.Range(0, 4).Select(i => topic.AddProducer($"p{i}")).ToList();
        await Task.WhenAll(producers.Select(p => Task.Run(() => PublishAsync(topic, p, 1000, prefix: p.Name))));
        var messages = await consumer.ReceiveAsync(4000, TimeSpan.FromSeconds(60));
        foreach (var group in messages.GroupBy(m => m.ProducerName))
        {
            Assert.That(group.Select(m => m.SequenceId), Is.EqualTo(Enumerable.Range(0, 1000).Select(i => (long)i)), group.Key);
            Assert.That(group.Select(Text), Is.EqualTo(Enumerable.Range(0, 1000).Select(i => $"{group.Key}-{i}")));
        }
        Assert.That(messages.Select(m => m.ProducerName).Distinct().Count(), Is.EqualTo(4));
        Assert.That(topic.Ledger.GetLedgers().Count, Is.GreaterThanOrEqualTo(8), "rolled over while four producers wrote");
    }
}
