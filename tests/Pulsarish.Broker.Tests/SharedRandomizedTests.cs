using Pulsarish.Broker.Dispatch;
using Pulsarish.Broker.Topics;
using Pulsarish.Protocol.Broker;
using Pulsarish.TestKit;

namespace Pulsarish.Broker.Tests;

/// <summary>
/// Randomized Shared subscription: consumers join and leave, acknowledge, negatively acknowledge or hold messages.
/// Whatever the schedule, every message is eventually acknowledged and the backlog drains (no loss). The seed is
/// printed; set PULSARISH_TEST_SEED to replay one.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class SharedRandomizedTests : BrokerTestBase
{
    [Test]
    public async Task EveryMessageIsEventuallyAcknowledgedWhileConsumersChurn()
    {
        int seed = TestSeed.Use();
        var random = new Random(seed);
        var broker = await StartBrokerAsync(TestOptions(maxEntriesPerLedger: 200));
        await CreateNamespaceAsync(broker);
        var topic = await broker.GetOrLoadTopicAsync(TopicName("churn"));
        var consumers = new List<TestConsumer>();
        for (int i = 0; i < 3; i++)
        {
            consumers.Add(await TestConsumer.SubscribeAsync(topic, "sub", SubscriptionType.Shared, receiverQueue: random.Next(5, 50)));
        }
        const int count = 2000;
        var publishing = PublishAsync(topic, topic.AddProducer("p"), count);
        var acked = new HashSet<string>();
        int redelivered = 0;
        var deadline = DateTime.UtcNow + TimeSpan.FromSeconds(40);
        while (acked.Count < count && DateTime.UtcNow < deadline)
        {
            var consumer = consumers[random.Next(consumers.Count)];
            var batch = await consumer.DrainAsync(TimeSpan.FromMilliseconds(5));
            var toAck = new List<DeliveredMessage>();
            var toNack = new List<MessageId>();
            foreach (var m in batch)
            {
                redelivered += m.RedeliveryCount > 0 ? 1 : 0;
                double roll = random.NextDouble();
                if (roll < 0.85)
                {
                    toAck.Add(m);
                }
                else if (roll < 0.95)
                {
                    toNack.Add(m.Id);
                }
            }
            consumer.Ack(toAck);
            consumer.Consumer.NegativeAcknowledge(toNack);
            foreach (var m in toAck)
            {
                acked.Add(Text(m));
            }
            if (random.NextDouble() < 0.05 && consumers.Count > 1)
            {
                // Leave while holding unacknowledged messages: they go to the others.
                consumers.Remove(consumer);
                consumer.Consumer.Close();
            }
            if (random.NextDouble() < 0.05 && consumers.Count < 5)
            {
                consumers.Add(await TestConsumer.SubscribeAsync(topic, "sub", SubscriptionType.Shared, receiverQueue: random.Next(5, 50)));
            }
            if (batch.Count == 0 && publishing.IsCompleted)
            {
                // Held messages are only redelivered by a nack or a leave: nudge a random consumer.
                consumers[random.Next(consumers.Count)].Consumer.RedeliverUnacknowledged();
            }
        }
        await publishing;
        TestContext.Out.WriteLine($"acknowledged {acked.Count}, redelivered {redelivered}, consumers at the end {consumers.Count}");
        Assert.That(acked, Has.Count.EqualTo(count), $"seed {seed}");
        Assert.That(topic.Subscriptions["sub"].Cursor.Backlog, Is.EqualTo(0), $"seed {seed}");
        Assert.That(topic.Subscriptions["sub"].Cursor.IndividuallyDeletedCount, Is.EqualTo(0), "mark-delete reached the end");
    }
}
