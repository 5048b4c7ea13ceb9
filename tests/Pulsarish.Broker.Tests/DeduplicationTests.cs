namespace Pulsarish.Broker.Tests;

/// <summary>Producer de-duplication by sequence id survives reloads and takeovers.</summary>
[TestFixture]
[NonParallelizable]
public sealed class DeduplicationTests : BrokerTestBase
{
    [Test]
    public async Task ResentSequenceIdsAreDuplicatesAcrossATopicReload()
    {
        var broker = await StartBrokerAsync();
        await CreateNamespaceAsync(broker);
        string name = TopicName("dedup");
        var topic = await broker.GetOrLoadTopicAsync(name);
        var producer = topic.AddProducer("p");
        Assert.That(producer.LastSequenceIdAtOpen, Is.EqualTo(-1));
        await PublishAsync(topic, producer, 100);
        var resent = await topic.PublishAsync(producer, Batch(99, "again"));
        Assert.That(resent.IsDuplicate, Is.True);

        await broker.UnloadTopicAsync(name);
        var reloaded = await broker.GetOrLoadTopicAsync(name);
        var again = reloaded.AddProducer("p");
        Assert.That(again.LastSequenceIdAtOpen, Is.EqualTo(99), "ProducerOpened.last_sequence_id after the reload");
        Assert.That((await reloaded.PublishAsync(again, Batch(50, "dup"))).IsDuplicate, Is.True);
        var fresh = await reloaded.PublishAsync(again, Batch(100, "new"));
        Assert.That(fresh.IsDuplicate, Is.False);
        Assert.That(reloaded.Ledger.NumberOfEntries, Is.EqualTo(101), "duplicates were not written");
        var other = reloaded.AddProducer("q");
        Assert.That((await reloaded.PublishAsync(other, Batch(0, "other producer"))).IsDuplicate, Is.False, "per producer name");
    }

    [Test]
    public async Task DeduplicationStateIsRebuiltFromTheEntriesAfterATakeover()
    {
        var oldBroker = await StartBrokerAsync();
        await CreateNamespaceAsync(oldBroker);
        string name = TopicName("dedup-takeover");
        var topic = await oldBroker.GetOrLoadTopicAsync(name);
        var producer = topic.AddProducer("p");
        await PublishAsync(topic, producer, 40);

        // No orderly unload: the new owner has no snapshot covering these and replays the entries.
        var newBroker = await StartBrokerAsync();
        var taken = await newBroker.GetOrLoadTopicAsync(name);
        var again = taken.AddProducer("p");
        Assert.That(again.LastSequenceIdAtOpen, Is.EqualTo(39));
        Assert.That((await taken.PublishAsync(again, Batch(39, "dup"))).IsDuplicate, Is.True);
        Assert.That((await taken.PublishAsync(again, Batch(40, "next"))).IsDuplicate, Is.False);
        Assert.That(taken.Ledger.NumberOfEntries, Is.EqualTo(41));
    }

    [Test]
    public async Task DeduplicationStateIsBoundedByTheNumberOfProducers()
    {
        var options = TestOptions();
        options.DeduplicationMaxProducers = 2;
        var broker = await StartBrokerAsync(options);
        await CreateNamespaceAsync(broker);
        var topic = await broker.GetOrLoadTopicAsync(TopicName("dedup-bounded"));
        var a = topic.AddProducer("a");
        var b = topic.AddProducer("b");
        await topic.PublishAsync(a, Batch(0, "a0"));
        await topic.PublishAsync(b, Batch(0, "b0"));
        Assert.That((await topic.PublishAsync(a, Batch(0, "a0 again"))).IsDuplicate, Is.True);
        var c = topic.AddProducer("c");
        await topic.PublishAsync(c, Batch(0, "c0"));
        Assert.That(topic.GetLastSequenceId("b"), Is.EqualTo(-1), "the least recently used name was forgotten");
        Assert.That(topic.GetLastSequenceId("a"), Is.EqualTo(0));
        Assert.That(topic.GetLastSequenceId("c"), Is.EqualTo(0));
    }
}
