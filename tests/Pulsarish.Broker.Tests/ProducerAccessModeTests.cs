using Pulsarish.Broker.Errors;
using Pulsarish.Broker.Topics;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Tests;

/// <summary>The topic's producer access modes (Pulsar's): who may attach, who waits, who is fenced.</summary>
[TestFixture]
[NonParallelizable]
public sealed class ProducerAccessModeTests : BrokerTestBase
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Test]
    public async Task WaitersAttachInArrivalOrderAndAWithdrawnWaiterIsSkipped()
    {
        var broker = await StartBrokerAsync();
        await CreateNamespaceAsync(broker);
        var topic = await broker.GetOrLoadTopicAsync(TopicName("waiters"));
        var shared = topic.AddProducer("shared");

        using var leaves = new CancellationTokenSource();
        var withdrawn = topic.AddProducerAsync("withdrawn", ProducerAccessMode.WaitForExclusive, leaves.Token);
        var second = topic.AddProducerAsync("second", ProducerAccessMode.WaitForExclusive, CancellationToken.None);
        var third = topic.AddProducerAsync("third", ProducerAccessMode.WaitForExclusive, CancellationToken.None);
        Assert.That(withdrawn.IsCompleted || second.IsCompleted || third.IsCompleted, Is.False, "a Shared producer holds the topic");
        Assert.Throws<ProducerBusyException>(() => topic.AddProducer("late-shared"), "no Shared producer joins while exclusive ones wait");
        Assert.Throws<ProducerBusyException>(() => topic.AddProducer("late-exclusive", ProducerAccessMode.Exclusive));

        await leaves.CancelAsync();
        Assert.That(async () => await withdrawn, Throws.InstanceOf<OperationCanceledException>());
        shared.Close();
        var owner = await second.WaitAsync(Patience);
        Assert.That(owner.Name, Is.EqualTo("second"));
        Assert.That(third.IsCompleted, Is.False, "the next waiter waits for the new exclusive producer");
        owner.Close();
        Assert.That((await third.WaitAsync(Patience)).Name, Is.EqualTo("third"));
    }

    [Test]
    public async Task ExclusiveWithFencingFencesAttachedProducersAndFailsWaiters()
    {
        var broker = await StartBrokerAsync();
        await CreateNamespaceAsync(broker);
        var topic = await broker.GetOrLoadTopicAsync(TopicName("fencing"));
        var exclusive = topic.AddProducer("exclusive", ProducerAccessMode.Exclusive);
        await topic.PublishAsync(exclusive, Batch(0, "before"));
        var waiter = topic.AddProducerAsync("waiter", ProducerAccessMode.WaitForExclusive, CancellationToken.None);

        var taker = topic.AddProducer("taker", ProducerAccessMode.ExclusiveWithFencing);
        Assert.That(exclusive.IsFenced, Is.True);
        Assert.That(exclusive.Detached.IsCancellationRequested, Is.True, "the fenced producer's stream is ended");
        Assert.That(async () => await waiter, Throws.InstanceOf<ProducerFencedException>());
        var refused = Assert.ThrowsAsync<ProducerFencedException>(async () => await topic.PublishAsync(exclusive, Batch(1, "after")));
        Assert.That(BrokerErrorReasons.Of(refused!), Is.EqualTo(ErrorReason.ProducerFenced));
        await topic.PublishAsync(taker, Batch(0, "taker"));

        // Closing the fenced producer (its stream ending) does not free the topic: the taker holds it.
        exclusive.Close();
        Assert.Throws<ProducerBusyException>(() => topic.AddProducer("shared"));
        var fencedAgain = topic.AddProducer("fencer-2", ProducerAccessMode.ExclusiveWithFencing);
        Assert.That(taker.IsFenced, Is.True);
        Assert.That(fencedAgain.IsFenced, Is.False);
    }
}
