using Pulsarish.Broker.Errors;
using Pulsarish.Protocol.Broker;
using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Broker.Tests;

/// <summary>Managed ledgers on real bookies: roll-over, reopen with recovery, fencing of the previous owner.</summary>
[TestFixture]
[NonParallelizable]
public sealed class ManagedLedgerTests : BrokerTestBase
{
    [Test]
    public async Task LedgersRollOverAtMaxEntriesAndAReloadRecoversEveryEntry()
    {
        var broker = await StartBrokerAsync(TestOptions(maxEntriesPerLedger: 100));
        await CreateNamespaceAsync(broker);
        string name = TopicName("rolling");
        var topic = await broker.GetOrLoadTopicAsync(name);
        var producer = topic.AddProducer("p");
        var receipts = await PublishAsync(topic, producer, 550);
        var stats = topic.GetInternalStats();
        Assert.That(stats.Ledgers, Has.Count.GreaterThanOrEqualTo(6), "550 entries at 100 per ledger");
        var ledgerIds = receipts.Select(r => r.MessageId.LedgerId).Distinct().ToList();
        Assert.That(ledgerIds, Has.Count.EqualTo(6));
        foreach (long id in ledgerIds.Take(5))
        {
            Assert.That(receipts.Count(r => r.MessageId.LedgerId == id), Is.EqualTo(100), $"ledger {id}");
            var metadata = await Cluster.LedgerMetadata.ReadAsync(id);
            Assert.That(metadata!.Value.Metadata.State, Is.EqualTo(LedgerState.Closed), $"ledger {id} closed");
            Assert.That(metadata.Value.Metadata.LastEntryId, Is.EqualTo(99));
        }

        await broker.UnloadTopicAsync(name);
        var reloaded = await broker.GetOrLoadTopicAsync(name);
        var internalStats = reloaded.GetInternalStats();
        Assert.That(internalStats.Entries, Is.EqualTo(550));
        Assert.That(internalStats.CurrentLedgerId, Is.GreaterThan(ledgerIds[^1]), "a new ledger after the reload");
        var lastBefore = await Cluster.LedgerMetadata.ReadAsync(ledgerIds[^1]);
        Assert.That(lastBefore!.Value.Metadata.State, Is.EqualTo(LedgerState.Closed), "previous last ledger closed");
        var consumer = await TestConsumer.SubscribeAsync(reloaded, "all", SubscriptionType.Exclusive, InitialPosition.Earliest);
        var messages = await consumer.ReceiveAsync(550);
        Assert.That(messages.Select(Text), Is.EqualTo(Enumerable.Range(0, 550).Select(i => $"m-{i}")));
    }

    [Test]
    public async Task NewOwnerFencesTheOldWriterAndKeepsEveryAcknowledgedEntry()
    {
        var oldBroker = await StartBrokerAsync(TestOptions(maxEntriesPerLedger: 100));
        await CreateNamespaceAsync(oldBroker);
        string name = TopicName("takeover");
        var oldTopic = await oldBroker.GetOrLoadTopicAsync(name);
        var oldProducer = oldTopic.AddProducer("p");
        await PublishAsync(oldTopic, oldProducer, 250);

        // A second broker takes the topic while the first still has it loaded (e.g. after a partition).
        var newBroker = await StartBrokerAsync(TestOptions(maxEntriesPerLedger: 100));
        var newTopic = await newBroker.GetOrLoadTopicAsync(name);
        Assert.That(newTopic.Ledger.NumberOfEntries, Is.EqualTo(250), "every acknowledged entry recovered");

        var late = oldTopic.PublishAsync(oldProducer, Batch(1000, "late"));
        var error = Assert.ThrowsAsync<TopicFencedException>(async () => await late);
        Assert.That(error!.Reason, Is.EqualTo(nameof(ErrorReason.Fenced)));
        Assert.That(() => oldTopic.IsClosed, Is.True.After(5000, 20), "the old owner stops the topic");
        Assert.That(oldBroker.GetLoadedTopic(name), Is.Null, "and forgets it");

        var newProducer = newTopic.AddProducer("p2");
        await PublishAsync(newTopic, newProducer, 10, prefix: "new");
        var consumer = await TestConsumer.SubscribeAsync(newTopic, "check", SubscriptionType.Exclusive, InitialPosition.Earliest);
        var messages = await consumer.ReceiveAsync(260);
        Assert.That(messages.Select(Text).Take(250), Is.EqualTo(Enumerable.Range(0, 250).Select(i => $"m-{i}")));
        Assert.That(messages.Select(Text).Skip(250), Is.EqualTo(Enumerable.Range(0, 10).Select(i => $"new-{i}")));
        Assert.That(messages.Select(Text), Does.Not.Contain("late"), "the fenced add is not part of the log");
    }
}
