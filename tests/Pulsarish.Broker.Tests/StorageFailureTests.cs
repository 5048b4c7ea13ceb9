using Pulsarish.Broker.Admin;
using Pulsarish.Broker.Topics;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Tests;

/// <summary>The managed ledger over storage trouble: a bookie lost mid-stream, catch-up reads past the tail cache.</summary>
[TestFixture]
[NonParallelizable]
public sealed class StorageFailureTests : BrokerTestBase
{
    [Test]
    public async Task LosingABookieWhilePublishingLosesNoAcknowledgedMessage()
    {
        // A dedicated cluster: this test stops one of its bookies.
        await using var cluster = await BookieCluster.StartAsync(3);
        var options = TestOptions(maxEntriesPerLedger: 400);
        options.CreateDefaultNamespace = false;
        await using var broker = await BrokerService.StartAsync(options, cluster.Store, cluster.NewClient());
        await broker.Namespaces.CreateTenantAsync("t");
        await broker.Namespaces.CreateNamespaceAsync("t", "ns", new Policies { EnsembleSize = 2, WriteQuorum = 2, AckQuorum = 2 });
        var topic = await broker.GetOrLoadTopicAsync("persistent://t/ns/survivor");
        var consumer = await TestConsumer.SubscribeAsync(topic, "sub", SubscriptionType.Exclusive);
        var producer = topic.AddProducer("p");

        var firstHalf = PublishAsync(topic, producer, 500);
        await Task.Delay(50);
        string victim = topic.Ledger.GetLedgers()[^1] is { } current
            ? (await cluster.LedgerMetadata.ReadAsync(current.LedgerId))!.Value.Metadata.Fragments[^1].Bookies[0]
            : cluster.BookieIds[0];
        await cluster.StopBookieAsync(victim);
        var receipts = await firstHalf;
        receipts.AddRange(await PublishAsync(topic, producer, 500, prefix: "after", firstSequenceId: 500));
        TestContext.Out.WriteLine($"stopped {victim}; ledgers {string.Join(",", topic.Ledger.GetLedgers().Select(l => $"{l.LedgerId}:{l.Entries}"))}");

        var messages = await consumer.ReceiveAsync(1000, TimeSpan.FromSeconds(60));
        var expected = Enumerable.Range(0, 500).Select(i => $"m-{i}").Concat(Enumerable.Range(0, 500).Select(i => $"after-{i}"));
        Assert.That(messages.Select(Text), Is.EqualTo(expected));

        // A new reader (another broker's client) reads everything back from the surviving bookies.
        await broker.UnloadTopicAsync(topic.Name.FullName);
        await using var other = await BrokerService.StartAsync(options, cluster.Store, cluster.NewClient());
        var reloaded = await other.GetOrLoadTopicAsync(topic.Name.FullName);
        var reader = await TestConsumer.SubscribeAsync(reloaded, "reader", SubscriptionType.Exclusive, InitialPosition.Earliest);
        Assert.That((await reader.ReceiveAsync(1000, TimeSpan.FromSeconds(60))).Select(Text), Is.EqualTo(expected));
    }

    [Test]
    public async Task AWriteFailureFailsTheSendsAndTheTopicResumesOnANewLedgerWhenBookiesReturn()
    {
        await using var cluster = await BookieCluster.StartAsync(3);
        var options = TestOptions();
        await using var broker = await BrokerService.StartAsync(options, cluster.Store, cluster.NewClient());
        await broker.Namespaces.CreateTenantAsync("t");
        await broker.Namespaces.CreateNamespaceAsync("t", "ns", new Policies { EnsembleSize = 2, WriteQuorum = 2, AckQuorum = 2 });
        var topic = await broker.GetOrLoadTopicAsync("persistent://t/ns/broken");
        var consumer = await TestConsumer.SubscribeAsync(topic, "sub", SubscriptionType.Exclusive);
        var producer = topic.AddProducer("p");
        await PublishAsync(topic, producer, 50);
        long brokenLedger = topic.Ledger.CurrentLedgerId;
        var ensemble = (await cluster.LedgerMetadata.ReadAsync(brokenLedger))!.Value.Metadata.Fragments[^1].Bookies;
        string spare = cluster.BookieIds.Single(id => !ensemble.Contains(id));
        // One ensemble bookie and the only possible replacement go: the writer cannot repair its ensemble.
        await cluster.StopBookieAsync(spare);
        await cluster.StopBookieAsync(ensemble[1]);

        var failed = Assert.ThrowsAsync<Errors.PersistenceException>(async () => await topic.PublishAsync(producer, Batch(50, "lost")));
        Assert.That(Errors.BrokerErrorReasons.Of(failed!), Is.EqualTo(ErrorReason.PersistenceError));
        Assert.That(() => cluster.LedgerMetadata.ReadAsync(brokenLedger).Result!.Value.Metadata.State,
            Is.EqualTo(Pulsarish.Protocol.Metadata.LedgerState.Closed).After(10_000, 50), "the broken ledger is closed at the writer's LAC");
        Assert.That(cluster.LedgerMetadata.ReadAsync(brokenLedger).Result!.Value.Metadata.LastEntryId, Is.EqualTo(49));

        await cluster.StartBookieAsync();
        // The producer whose send failed is disconnected, as Pulsar's: its later sends are refused even once storage
        // works again, so nothing it sent after the lost batch is stored ahead of its client's resend.
        Assert.That(producer.Detached.IsCancellationRequested, Is.True, "the producer of the failed send is disconnected");
        Assert.ThrowsAsync<Errors.PersistenceException>(async () => await topic.PublishAsync(producer, Batch(50, "late")));
        PublishResult resumed = default;
        Assert.That(async () =>
        {
            var reconnected = topic.AddProducer("p");
            try
            {
                resumed = await topic.PublishAsync(reconnected, Batch(50, "resumed"));
                return true;
            }
            catch (Errors.PersistenceException)
            {
                return false;
            }
        }, Is.True.After(10_000, 200), "a reconnected producer's sends succeed again once a new ledger can be created");
        Assert.That(resumed.MessageId.LedgerId, Is.GreaterThan(brokenLedger));
        var messages = await consumer.ReceiveAsync(51);
        Assert.That(messages.Select(Text), Is.EqualTo(Enumerable.Range(0, 50).Select(i => $"m-{i}").Append("resumed")));
    }

    [Test]
    public async Task AnAddFailedBecauseNoLedgerCouldBeCreatedRefusesTheWritersLaterAddsOnceStorageReturns()
    {
        // Found by `pulsarish verify` (torn-journal): adds queued for a roll-over that could not create a ledger
        // failed without counting as write failures, so the same producer's next sends, made before it learnt of the
        // failure, were stored on the ledger created once bookies returned — ahead of its resend of the failed ones.
        await using var cluster = await BookieCluster.StartAsync(3);
        var options = TestOptions();
        await using var broker = await BrokerService.StartAsync(options, cluster.Store, cluster.NewClient());
        await broker.Namespaces.CreateTenantAsync("t");
        await broker.Namespaces.CreateNamespaceAsync("t", "ns", new Policies { EnsembleSize = 2, WriteQuorum = 2, AckQuorum = 2 });
        var topic = await broker.GetOrLoadTopicAsync("persistent://t/ns/no-ledger");
        var producer = topic.AddProducer("p");
        await PublishAsync(topic, producer, 10);
        long brokenLedger = topic.Ledger.CurrentLedgerId;
        var ensemble = (await cluster.LedgerMetadata.ReadAsync(brokenLedger))!.Value.Metadata.Fragments[^1].Bookies;
        await cluster.StopBookieAsync(cluster.BookieIds.Single(id => !ensemble.Contains(id)));
        await cluster.StopBookieAsync(ensemble[1]);
        Assert.ThrowsAsync<Errors.PersistenceException>(async () => await topic.PublishAsync(producer, Batch(10, "lost")));
        Assert.That(() => cluster.LedgerMetadata.ReadAsync(brokenLedger).Result!.Value.Metadata.State,
            Is.EqualTo(Pulsarish.Protocol.Metadata.LedgerState.Closed).After(10_000, 50));

        // A writer attached now: its add waits for a roll-over that cannot create a ledger (one bookie for E=2).
        long seen = topic.Ledger.WriteFailures;
        var failedAdd = Assert.ThrowsAsync<Errors.PersistenceException>(async () =>
            await topic.Ledger.AddEntryAsync(new byte[] { 1 }, null, null, seen));
        Assert.That(failedAdd!.Message, Does.Contain("cannot create a ledger"));

        await cluster.StartBookieAsync();
        await cluster.StartBookieAsync();
        // Its next add (sent before it saw the failure) is refused even though a ledger can be created again...
        var refused = Assert.ThrowsAsync<Errors.PersistenceException>(async () =>
            await topic.Ledger.AddEntryAsync(new byte[] { 2 }, null, null, seen));
        Assert.That(refused!.Message, Does.Contain("earlier write"));
        // ...while a writer that attached after the failure writes on the new ledger.
        Position stored = default;
        Assert.That(async () =>
        {
            try
            {
                stored = await topic.Ledger.AddEntryAsync(new byte[] { 3 }, null, null, topic.Ledger.WriteFailures);
                return true;
            }
            catch (Errors.PersistenceException)
            {
                return false;
            }
        }, Is.True.After(20_000, 200));
        Assert.That(stored.LedgerId, Is.GreaterThan(brokenLedger));
    }

    [Test]
    public async Task CatchUpReadsBeyondTheTailCacheComeFromTheBookies()
    {
        var options = TestOptions(maxEntriesPerLedger: 100);
        options.ManagedLedgerCacheSizeBytes = 4096;
        var broker = await StartBrokerAsync(options);
        await CreateNamespaceAsync(broker);
        var topic = await broker.GetOrLoadTopicAsync(TopicName("catch-up"));
        await PublishAsync(topic, topic.AddProducer("p"), 400);
        Assert.That(broker.EntryCache.SizeBytes, Is.LessThanOrEqualTo(4096), "the tail cache is bounded in bytes");
        long missesBefore = broker.EntryCache.Misses;
        var late = await TestConsumer.SubscribeAsync(topic, "late", SubscriptionType.Exclusive, InitialPosition.Earliest);
        var messages = await late.ReceiveAsync(400);
        Assert.That(messages.Select(Text), Is.EqualTo(Enumerable.Range(0, 400).Select(i => $"m-{i}")));
        Assert.That(broker.EntryCache.Misses - missesBefore, Is.GreaterThan(0), "old entries were read from the bookies");

        var tailing = await TestConsumer.SubscribeAsync(topic, "tail", SubscriptionType.Exclusive, InitialPosition.Latest);
        long hitsBefore = broker.EntryCache.Hits;
        await PublishAsync(topic, topic.AddProducer("p2"), 20, prefix: "tail");
        Assert.That((await tailing.ReceiveAsync(20)).Select(Text), Is.EqualTo(Enumerable.Range(0, 20).Select(i => $"tail-{i}")));
        Assert.That(broker.EntryCache.Hits - hitsBefore, Is.GreaterThanOrEqualTo(20), "a caught-up consumer is served from the tail cache");
    }
}
