using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Tests;

/// <summary>Cursor persistence: acknowledged messages are not redelivered after a reload or a takeover.</summary>
[TestFixture]
[NonParallelizable]
public sealed class CursorTests : BrokerTestBase
{
    [Test]
    public async Task AcknowledgedMessagesAreNotRedeliveredAfterAReloadAndUnacknowledgedOnesAre()
    {
        var broker = await StartBrokerAsync();
        await CreateNamespaceAsync(broker);
        string name = TopicName("cursor");
        var topic = await broker.GetOrLoadTopicAsync(name);
        var consumer = await TestConsumer.SubscribeAsync(topic, "sub", SubscriptionType.Shared);
        await PublishAsync(topic, topic.AddProducer("p"), 100);
        var messages = await consumer.ReceiveAsync(100);
        // Ack 0..49 (mark-delete moves) and the odd ones of 50..99 (individually deleted ranges).
        consumer.Ack(messages.Where((m, i) => i < 50 || i % 2 == 1));
        Assert.That(topic.GetStats().Subscriptions[0].BacklogEntries, Is.EqualTo(25));

        await broker.UnloadTopicAsync(name);
        Assert.That(consumer.DisconnectReason, Is.Null.Or.Not.Null);
        var reloaded = await broker.GetOrLoadTopicAsync(name);
        var internalStats = reloaded.GetInternalStats();
        Assert.That(internalStats.Cursors.Single().IndividuallyDeletedEntries, Is.EqualTo(25), "ranges recovered from the snapshot");
        var again = await TestConsumer.SubscribeAsync(reloaded, "sub", SubscriptionType.Shared);
        var redelivered = await again.ReceiveAsync(25);
        Assert.That(redelivered.Select(Text), Is.EqualTo(Enumerable.Range(50, 50).Where(i => i % 2 == 0).Select(i => $"m-{i}")));
        Assert.That(await again.ReceiveAsync(TimeSpan.FromMilliseconds(300)), Is.Null, "nothing acknowledged comes back");
    }

    [Test]
    public async Task AcknowledgementsPersistedBeforeATakeoverAreNotRedelivered()
    {
        var oldBroker = await StartBrokerAsync();
        await CreateNamespaceAsync(oldBroker);
        string name = TopicName("cursor-takeover");
        var topic = await oldBroker.GetOrLoadTopicAsync(name);
        var consumer = await TestConsumer.SubscribeAsync(topic, "sub", SubscriptionType.Exclusive);
        await PublishAsync(topic, topic.AddProducer("p"), 60);
        var messages = await consumer.ReceiveAsync(60);
        consumer.Ack(messages.Take(40));
        // Acks are persisted asynchronously within CursorPersistInterval (50 ms here); give it time, then "crash".
        await Task.Delay(500);

        var newBroker = await StartBrokerAsync();
        var taken = await newBroker.GetOrLoadTopicAsync(name);
        var next = await TestConsumer.SubscribeAsync(taken, "sub", SubscriptionType.Exclusive);
        var redelivered = await next.ReceiveAsync(20);
        Assert.That(redelivered.Select(Text), Is.EqualTo(Enumerable.Range(40, 20).Select(i => $"m-{i}")));
        Assert.That(await next.ReceiveAsync(TimeSpan.FromMilliseconds(300)), Is.Null);
    }

    [Test]
    public async Task AcknowledgementsNotYetPersistedAreRedeliveredAfterATakeover()
    {
        // At-least-once, as Pulsar: acks are persisted asynchronously; here the interval is far longer than the test.
        var options = TestOptions();
        options.CursorPersistInterval = TimeSpan.FromHours(1);
        var oldBroker = await StartBrokerAsync(options);
        await CreateNamespaceAsync(oldBroker);
        string name = TopicName("cursor-unpersisted");
        var topic = await oldBroker.GetOrLoadTopicAsync(name);
        var consumer = await TestConsumer.SubscribeAsync(topic, "sub", SubscriptionType.Exclusive);
        await PublishAsync(topic, topic.AddProducer("p"), 30);
        consumer.Ack(await consumer.ReceiveAsync(30));
        Assert.That(topic.Subscriptions["sub"].Cursor.Backlog, Is.EqualTo(0), "applied in memory at once");

        var newBroker = await StartBrokerAsync(options);
        var taken = await newBroker.GetOrLoadTopicAsync(name);
        var next = await TestConsumer.SubscribeAsync(taken, "sub", SubscriptionType.Exclusive);
        var redelivered = await next.ReceiveAsync(30);
        Assert.That(redelivered.Select(Text), Is.EqualTo(Enumerable.Range(0, 30).Select(i => $"m-{i}")),
            "acks that were never persisted are redelivered, nothing is lost");
    }

    [Test]
    public async Task BatchEntryIsAcknowledgedOnlyWhenEveryMessageOfItIs()
    {
        var broker = await StartBrokerAsync();
        await CreateNamespaceAsync(broker);
        var topic = await broker.GetOrLoadTopicAsync(TopicName("batches"));
        var consumer = await TestConsumer.SubscribeAsync(topic, "sub", SubscriptionType.Shared);
        var batch = new StoredBatch { SequenceId = 0 };
        for (int i = 0; i < 5; i++)
        {
            batch.Messages.Add(Message($"b-{i}"));
        }
        var receipt = await topic.PublishAsync(topic.AddProducer("p"), batch);
        Assert.That(receipt.MessageId.BatchSize, Is.EqualTo(5));
        var messages = await consumer.ReceiveAsync(5);
        Assert.That(messages.Select(m => m.Id.BatchIndex), Is.EqualTo(new[] { 0, 1, 2, 3, 4 }));
        Assert.That(messages.Select(m => m.SequenceId), Is.EqualTo(new long[] { 0, 1, 2, 3, 4 }));
        consumer.Ack(messages.Where(m => m.Id.BatchIndex != 2));
        var subscription = topic.Subscriptions["sub"];
        Assert.That(subscription.Cursor.Backlog, Is.EqualTo(1), "one message of the batch is still unacknowledged");

        consumer.Consumer.NegativeAcknowledge([messages[2].Id]);
        var redelivered = await consumer.ReceiveAsync(1);
        Assert.That(Text(redelivered[0]), Is.EqualTo("b-2"), "only the unacknowledged message of the batch comes back");
        Assert.That(redelivered[0].RedeliveryCount, Is.EqualTo(1));
        consumer.Ack(redelivered[0]);
        Assert.That(subscription.Cursor.Backlog, Is.EqualTo(0));
    }
}
