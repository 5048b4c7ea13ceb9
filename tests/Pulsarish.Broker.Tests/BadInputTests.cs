using Google.Protobuf;
using Pulsarish.Broker.Admin;
using Pulsarish.Broker.Errors;
using Pulsarish.Broker.Topics;
using Pulsarish.Protocol.Errors;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Tests;

/// <summary>Bad input gets typed errors with wire reasons, and the engine keeps serving.</summary>
[TestFixture]
[NonParallelizable]
public sealed class BadInputTests : BrokerTestBase
{
    [TestCase("")]
    [TestCase("non-persistent://t/ns/x")]
    [TestCase("persistent://t/ns")]
    [TestCase("persistent://t/ns/a/b")]
    [TestCase("persistent://t/n s/x")]
    [TestCase("persistent:///ns/x")]
    [TestCase("persistent://t/ns/")]
    [TestCase("t/ns/x\u0001")]
    public async Task InvalidTopicNamesFailWithInvalidTopicName(string topic)
    {
        var broker = await StartBrokerAsync();
        var error = Assert.ThrowsAsync<InvalidTopicNameException>(() => broker.GetOrLoadTopicAsync(topic));
        Assert.That(BrokerErrorReasons.Of(error!), Is.EqualTo(ErrorReason.InvalidTopicName));
    }

    [Test]
    public async Task UnknownNamespaceTopicAndPartitionsGiveTypedErrors()
    {
        var broker = await StartBrokerAsync();
        await CreateNamespaceAsync(broker, new Policies { AllowAutoTopicCreation = false });
        var missingNs = Assert.ThrowsAsync<NamespaceNotFoundException>(() => broker.GetOrLoadTopicAsync("persistent://t/nope/x"));
        Assert.That(BrokerErrorReasons.Of(missingNs!), Is.EqualTo(ErrorReason.NamespaceNotFound));
        var missingTopic = Assert.ThrowsAsync<TopicNotFoundException>(() => broker.GetOrLoadTopicAsync(TopicName("unknown")));
        Assert.That(BrokerErrorReasons.Of(missingTopic!), Is.EqualTo(ErrorReason.TopicNotFound));

        var created = await broker.CreateTopicAsync(TopicName("explicit"));
        Assert.That(created.IsClosed, Is.False, "explicit creation works with auto-creation off");

        await broker.CreatePartitionedTopicAsync(TopicName("parts"), 3);
        Assert.That(await broker.GetPartitionCountAsync(TopicName("parts")), Is.EqualTo(3));
        Assert.That(await broker.GetPartitionCountAsync(TopicName("parts-partition-1")), Is.EqualTo(3));
        Assert.ThrowsAsync<NotAllowedException>(() => broker.GetOrLoadTopicAsync(TopicName("parts")));
        Assert.ThrowsAsync<TopicNotFoundException>(() => broker.GetOrLoadTopicAsync(TopicName("parts-partition-3")));
        var partition = await broker.GetOrLoadTopicAsync(TopicName("parts-partition-2"));
        var receipt = await partition.PublishAsync(partition.AddProducer("p"), Batch(0, "x"));
        Assert.That(receipt.MessageId.Partition, Is.EqualTo(2));
    }

    [Test]
    public async Task OversizedEmptyAndUnknownInputIsRefusedAndTheTopicKeepsServing()
    {
        var options = TestOptions();
        options.MaxMessageSizeBytes = 1024;
        var broker = await StartBrokerAsync(options);
        await CreateNamespaceAsync(broker);
        var topic = await broker.GetOrLoadTopicAsync(TopicName("bad"));
        var producer = topic.AddProducer("p");
        var consumer = await TestConsumer.SubscribeAsync(topic, "sub", SubscriptionType.Shared);

        var big = new StoredBatch { SequenceId = 0 };
        big.Messages.Add(new ProducerMessage { Payload = ByteString.CopyFrom(new byte[2000]) });
        var tooLarge = Assert.ThrowsAsync<TooLargeException>(() => topic.PublishAsync(producer, big));
        Assert.That(BrokerErrorReasons.Of(tooLarge!), Is.EqualTo(ErrorReason.TooLarge));
        var empty = Assert.ThrowsAsync<BadRequestException>(() => topic.PublishAsync(producer, new StoredBatch { SequenceId = 1 }));
        Assert.That(BrokerErrorReasons.Of(empty!), Is.EqualTo(ErrorReason.BadRequest));

        var ok = await topic.PublishAsync(producer, Batch(0, "fine"));
        var message = (await consumer.ReceiveAsync(1))[0];
        var unknownEntry = new MessageId(ok.MessageId.LedgerId, ok.MessageId.EntryId + 1000, -1, -1, 0);
        var unknownLedger = new MessageId(987_654_321, 0, -1, -1, 0);
        var badIndex = message.Id with { BatchIndex = 5, BatchSize = 1 };
        foreach (var id in new[] { unknownEntry, unknownLedger, badIndex })
        {
            var error = Assert.Throws<InvalidMessageIdException>(() => consumer.Consumer.Acknowledge(AckType.Individual, [message.Id, id]));
            Assert.That(BrokerErrorReasons.Of(error!), Is.EqualTo(ErrorReason.InvalidMessageId));
        }
        Assert.That(topic.Subscriptions["sub"].Cursor.Backlog, Is.EqualTo(1), "a rejected ack request applies nothing");
        consumer.Ack(message);
        Assert.That(topic.Subscriptions["sub"].Cursor.Backlog, Is.EqualTo(0));

        var exclusive = await TestConsumer.SubscribeAsync(topic, "excl", SubscriptionType.Exclusive);
        Assert.ThrowsAsync<SubscriptionBusyException>(() => TestConsumer.SubscribeAsync(topic, "excl", SubscriptionType.Exclusive));
        Assert.ThrowsAsync<SubscriptionBusyException>(() => TestConsumer.SubscribeAsync(topic, "sub", SubscriptionType.Failover));
        Assert.ThrowsAsync<BadRequestException>(() => TestConsumer.SubscribeAsync(topic, "pulsar.dedup", SubscriptionType.Shared));
        Assert.Throws<ProducerBusyException>(() => topic.AddProducer("p"));
        Assert.Throws<ProducerBusyException>(() => topic.AddProducer("solo", ProducerAccessMode.Exclusive));

        await topic.PublishAsync(producer, Batch(1, "still serving"));
        Assert.That(Text((await consumer.ReceiveAsync(1))[0]), Is.EqualTo("still serving"));
        Assert.That(Text((await exclusive.ReceiveAsync(2))[1]), Is.EqualTo("still serving"));
    }

    [Test]
    public async Task ProducerPendingLimitAndPublishBufferAreBounded()
    {
        var options = TestOptions();
        options.MaxPendingMessagesPerProducer = 10;
        var broker = await StartBrokerAsync(options);
        await CreateNamespaceAsync(broker);
        var topic = await broker.GetOrLoadTopicAsync(TopicName("bounded"));
        var producer = topic.AddProducer("p");
        var sends = Enumerable.Range(0, 50).Select(i => topic.PublishAsync(producer, Batch(i, $"m-{i}"))).ToList();
        var outcomes = await Task.WhenAll(sends.Select(async s =>
        {
            try
            {
                await s;
                return "ok";
            }
            catch (ProducerQueueFullException)
            {
                return "full";
            }
        }));
        Assert.That(outcomes.Count(o => o == "ok"), Is.GreaterThanOrEqualTo(10));
        Assert.That(outcomes.Count(o => o == "full"), Is.GreaterThan(0), "beyond 10 pending sends are refused");
        Assert.That(broker.PublishBufferBytes, Is.EqualTo(0), "every reservation released");
        Assert.That(producer.PendingMessages, Is.EqualTo(0));
    }
}
