using Pulsarish.Broker.Admin;
using Pulsarish.Broker.Topics;
using Pulsarish.Metadata;
using Pulsarish.Protocol.Broker;
using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Broker.Tests;

/// <summary>Retention and TTL: whole ledgers go only when every cursor passed them and the policy lets them.</summary>
[TestFixture]
[NonParallelizable]
public sealed class RetentionTests : BrokerTestBase
{
    private static async Task<List<long>> StoredLedgerListAsync(Topic topic)
    {
        var stored = await Cluster.Store.GetAsync(topic.Ledger.Path);
        return ManagedLedgerInfo.Parser.ParseFrom(stored!.Value).Ledgers.Select(l => l.LedgerId).ToList();
    }

    [Test]
    public async Task ConsumedLedgersAreDeletedWholeOnlyAfterEverySubscriptionPassedThem()
    {
        var broker = await StartBrokerAsync(TestOptions(maxEntriesPerLedger: 10));
        await CreateNamespaceAsync(broker, new Policies { RetentionTimeMinutes = 0, RetentionSizeBytes = 0 });
        var topic = await broker.GetOrLoadTopicAsync(TopicName("retention"));
        var fast = await TestConsumer.SubscribeAsync(topic, "fast", SubscriptionType.Exclusive);
        var slow = await TestConsumer.SubscribeAsync(topic, "slow", SubscriptionType.Exclusive);
        var receipts = await PublishAsync(topic, topic.AddProducer("p"), 55);
        var ledgers = receipts.Select(r => r.MessageId.LedgerId).Distinct().ToList();
        Assert.That(ledgers, Has.Count.EqualTo(6), "5 full ledgers and the open one");
        Assert.That(await StoredLedgerListAsync(topic), Is.EqualTo(ledgers));

        fast.Ack(await fast.ReceiveAsync(55));
        var none = await broker.RunMaintenanceAsync();
        Assert.That(none, Is.Empty, "the slow subscription still needs every ledger");
        Assert.That(await StoredLedgerListAsync(topic), Is.EqualTo(ledgers));

        var slowMessages = await slow.ReceiveAsync(55);
        slow.Ack(slowMessages.Take(25));
        var deleted = await broker.RunMaintenanceAsync();
        Assert.That(deleted[topic.Name.FullName], Is.EqualTo(ledgers.Take(2)), "ledgers entirely below both mark-delete positions");
        Assert.That(await StoredLedgerListAsync(topic), Is.EqualTo(ledgers.Skip(2)), "ledger list CAS'd without them");
        Assert.That(await Cluster.LedgerExistsAsync(ledgers[0]), Is.False, "ledger 0 deleted from /ledgers");
        Assert.That(await Cluster.LedgerExistsAsync(ledgers[1]), Is.False);
        Assert.That(await Cluster.LedgerExistsAsync(ledgers[2]), Is.True, "ledger 2 is half consumed by the slow subscription");

        slow.Ack(slowMessages.Skip(25));
        await broker.RunMaintenanceAsync();
        var remaining = await StoredLedgerListAsync(topic);
        Assert.That(remaining, Does.Not.Contain(ledgers[4]));
        Assert.That(remaining, Does.Contain(topic.Ledger.CurrentLedgerId), "the open ledger is never deleted");
        Assert.That(topic.Ledger.NumberOfEntries, Is.EqualTo(5), "what is left is the open ledger's 5 entries");
    }

    [Test]
    public async Task RetentionPolicyKeepsConsumedLedgersUntilItAllowsDeletion()
    {
        var broker = await StartBrokerAsync(TestOptions(maxEntriesPerLedger: 10));
        string ns = await CreateNamespaceAsync(broker, new Policies { RetentionTimeMinutes = -1, RetentionSizeBytes = -1 });
        var topic = await broker.GetOrLoadTopicAsync(TopicName("kept"));
        var consumer = await TestConsumer.SubscribeAsync(topic, "sub", SubscriptionType.Shared);
        // 35 entries: three closed ledgers of 10 and 5 in the open one (the sends after the 30th wait for the roll-over).
        await PublishAsync(topic, topic.AddProducer("p"), 35);
        consumer.Ack(await consumer.ReceiveAsync(35));
        Assert.That(await broker.RunMaintenanceAsync(), Is.Empty, "infinite retention keeps consumed ledgers");
        Assert.That(topic.Ledger.NumberOfEntries, Is.EqualTo(35));

        // Size retention of 15 bytes: the oldest ledgers go until what is left fits.
        var (tenant, name) = NamespaceService.ParseNamespace(ns);
        await broker.Namespaces.UpdatePoliciesAsync(tenant, name, p => { p.RetentionSizeBytes = 15; });
        var deleted = await broker.RunMaintenanceAsync();
        Assert.That(deleted[topic.Name.FullName], Has.Count.EqualTo(3), "every closed ledger exceeds the size bound");
        Assert.That(topic.Ledger.NumberOfEntries, Is.EqualTo(5), "the open ledger stays");
    }

    [Test]
    public async Task TtlExpiresUnacknowledgedMessagesAndThenTheirLedgersGo()
    {
        var broker = await StartBrokerAsync(TestOptions(maxEntriesPerLedger: 10));
        await CreateNamespaceAsync(broker, new Policies { MessageTtlSeconds = 1, RetentionTimeMinutes = 0, RetentionSizeBytes = 0 });
        var topic = await broker.GetOrLoadTopicAsync(TopicName("ttl"));
        var idle = await TestConsumer.SubscribeAsync(topic, "idle", SubscriptionType.Shared, flow: false);
        var receipts = await PublishAsync(topic, topic.AddProducer("p"), 30);
        var subscription = topic.Subscriptions["idle"];
        Assert.That(subscription.Cursor.Backlog, Is.EqualTo(30));
        Assert.That(await broker.RunMaintenanceAsync(), Is.Empty, "young messages are kept");
        Assert.That(subscription.Cursor.Backlog, Is.EqualTo(30));

        await Task.Delay(1300);
        var deleted = await broker.RunMaintenanceAsync();
        Assert.That(subscription.Cursor.Backlog, Is.EqualTo(0), "expired by advancing the cursor");
        Assert.That(deleted[topic.Name.FullName], Is.EqualTo(receipts.Select(r => r.MessageId.LedgerId).Distinct().Take(3)));

        var producer = topic.AddProducer("p2");
        await PublishAsync(topic, producer, 3, prefix: "fresh");
        idle.Consumer.Flow(10);
        var fresh = await idle.ReceiveAsync(3);
        Assert.That(fresh.Select(Text), Is.EqualTo(new[] { "fresh-0", "fresh-1", "fresh-2" }), "only unexpired messages are delivered");
    }
}
