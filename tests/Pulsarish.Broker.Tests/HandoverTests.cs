using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Tests;

/// <summary>
/// A topic moving back and forth between brokers by orderly unloads (namespace unload, graceful shutdown): every
/// broker that loads it again — including one that served it before — reads the whole history in order.
/// </summary>
[TestFixture]
public sealed class HandoverTests : BrokerTestBase
{
    [Test]
    public async Task TopicUnloadedFromATakenOverByBAndBackOnAReadsEveryMessageInOrder()
    {
        var a = await StartBrokerAsync();
        await CreateNamespaceAsync(a);
        var b = await StartBrokerAsync();
        string name = TopicName("back-and-forth");

        var onA = await a.GetOrLoadTopicAsync(name);
        await PublishAsync(onA, onA.AddProducer("p"), 30, "first", firstSequenceId: 0);
        await a.UnloadTopicAsync(name);

        var onB = await b.GetOrLoadTopicAsync(name);
        await PublishAsync(onB, onB.AddProducer("p"), 20, "second", firstSequenceId: 30);
        await b.UnloadTopicAsync(name);

        var again = await a.GetOrLoadTopicAsync(name);
        await PublishAsync(again, again.AddProducer("p"), 10, "third", firstSequenceId: 50);
        var consumer = await TestConsumer.SubscribeAsync(again, "verify", SubscriptionType.Exclusive);
        var received = await consumer.ReceiveAsync(60);

        var expected = Enumerable.Range(0, 30).Select(i => $"first-{i}")
            .Concat(Enumerable.Range(0, 20).Select(i => $"second-{i}"))
            .Concat(Enumerable.Range(0, 10).Select(i => $"third-{i}"));
        Assert.That(received.Select(Text), Is.EqualTo(expected));
    }
}
