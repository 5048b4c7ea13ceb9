using Pulsarish.Broker.Admin;
using Pulsarish.Broker.Errors;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Tests;

/// <summary>Tenants, namespaces, topics and subscriptions through the engine's admin surface; stats.</summary>
[TestFixture]
[NonParallelizable]
public sealed class AdminTests : BrokerTestBase
{
    [Test]
    public async Task TenantsAndNamespacesAreCreatedListedUpdatedAndDeletedOnlyWhenEmpty()
    {
        var broker = await StartBrokerAsync();
        string tenant = "tenant-" + Guid.NewGuid().ToString("N")[..6];
        Assert.ThrowsAsync<TenantNotFoundException>(() => broker.Namespaces.CreateNamespaceAsync(tenant, "ns"));
        await broker.Namespaces.CreateTenantAsync(tenant);
        Assert.ThrowsAsync<NotAllowedException>(() => broker.Namespaces.CreateTenantAsync(tenant));
        Assert.That(await broker.Namespaces.ListTenantsAsync(), Does.Contain(tenant));
        await broker.Namespaces.CreateNamespaceAsync(tenant, "ns", new Policies { MessageTtlSeconds = 60 });
        Assert.That(await broker.Namespaces.ListNamespacesAsync(tenant), Is.EqualTo(new[] { tenant + "/ns" }));
        Assert.ThrowsAsync<BrokerException>(() => broker.Namespaces.CreateNamespaceAsync(tenant, "bad", new Policies { EnsembleSize = 1, WriteQuorum = 2 }));

        var updated = await broker.Namespaces.UpdatePoliciesAsync(tenant, "ns", p => p.RetentionTimeMinutes = 10);
        Assert.That((updated.MessageTtlSeconds, updated.RetentionTimeMinutes), Is.EqualTo((60L, 10L)));
        var topic = await broker.GetOrLoadTopicAsync($"persistent://{tenant}/ns/t1");
        Assert.That(topic.Policies.MessageTtl, Is.EqualTo(TimeSpan.FromSeconds(60)));
        Assert.That(await broker.Namespaces.ListTopicsAsync(tenant, "ns"), Is.EqualTo(new[] { $"persistent://{tenant}/ns/t1" }));

        await broker.Namespaces.SetPoliciesAsync(tenant, "ns", new Policies { MessageTtlSeconds = 5, AllowAutoTopicCreation = false });
        var replaced = await broker.Namespaces.GetPoliciesAsync(tenant, "ns");
        Assert.That((replaced.MessageTtlSeconds, replaced.RetentionTimeMinutes, replaced.AllowAutoTopicCreation), Is.EqualTo((5L, (long?)null, (bool?)false)));
        Assert.That(topic.Policies.MessageTtl, Is.EqualTo(TimeSpan.FromSeconds(5)), "loaded topics follow policy changes");
        await broker.CreatePartitionedTopicAsync($"persistent://{tenant}/ns/parted", 2);
        Assert.That(await broker.Namespaces.ListPartitionedTopicsAsync(tenant, "ns"), Is.EqualTo(new[] { $"persistent://{tenant}/ns/parted" }));
        Assert.ThrowsAsync<NotAllowedException>(() => broker.Namespaces.DeleteNamespaceAsync(tenant, "ns"), "namespace has a topic");
        await broker.DeleteTopicAsync($"persistent://{tenant}/ns/parted");
        Assert.ThrowsAsync<NotAllowedException>(() => broker.Namespaces.DeleteTenantAsync(tenant), "tenant has a namespace");
        await broker.DeleteTopicAsync($"persistent://{tenant}/ns/t1");
        Assert.That(await broker.Namespaces.ListTopicsAsync(tenant, "ns"), Is.Empty);
        await broker.Namespaces.DeleteNamespaceAsync(tenant, "ns");
        await broker.Namespaces.DeleteTenantAsync(tenant);
        Assert.That(await broker.Namespaces.GetTenantAsync(tenant), Is.Null);
    }

    [Test]
    public async Task DeletedTopicLeavesNoLedgersAndUnsubscribeNeedsNoConsumers()
    {
        var broker = await StartBrokerAsync(TestOptions(maxEntriesPerLedger: 10));
        await CreateNamespaceAsync(broker);
        string name = TopicName("doomed");
        var topic = await broker.GetOrLoadTopicAsync(name);
        var consumer = await TestConsumer.SubscribeAsync(topic, "sub", SubscriptionType.Shared);
        await TestConsumer.SubscribeAsync(topic, "idle", SubscriptionType.Shared);
        var receipts = await PublishAsync(topic, topic.AddProducer("p"), 25);
        consumer.Ack(await consumer.ReceiveAsync(25));

        var stats = topic.GetStats();
        Assert.That(stats.MessagesInTotal, Is.EqualTo(25));
        Assert.That(stats.Subscriptions.Single(s => s.Name == "sub").BacklogEntries, Is.EqualTo(0));
        Assert.That(stats.Subscriptions.Single(s => s.Name == "idle").BacklogEntries, Is.EqualTo(25));
        Assert.That(stats.Ledgers, Is.GreaterThanOrEqualTo(3));
        var skipped = topic.Subscriptions["idle"].Skip(5);
        Assert.That(skipped, Is.EqualTo(5));
        Assert.That(topic.Subscriptions["idle"].Cursor.Backlog, Is.EqualTo(20));

        Assert.ThrowsAsync<SubscriptionBusyException>(() => topic.UnsubscribeAsync("sub"));
        Assert.ThrowsAsync<SubscriptionNotFoundException>(() => topic.UnsubscribeAsync("nope"));
        var internalStats = topic.GetInternalStats();
        long cursorLedger = internalStats.Cursors.Single(c => c.Name == "sub").CursorLedgerId;
        consumer.Consumer.Close();
        await topic.UnsubscribeAsync("sub");
        Assert.That(topic.Subscriptions.ContainsKey("sub"), Is.False);
        Assert.That(await Cluster.LedgerExistsAsync(cursorLedger), Is.False, "the cursor ledger is deleted with the subscription");

        Assert.ThrowsAsync<NotAllowedException>(() => broker.DeleteTopicAsync(name), "a subscription still has a consumer");
        await broker.DeleteTopicAsync(name, force: true);
        foreach (long ledger in receipts.Select(r => r.MessageId.LedgerId).Distinct())
        {
            Assert.That(await Cluster.LedgerExistsAsync(ledger), Is.False, $"ledger {ledger} deleted");
        }
        Assert.ThrowsAsync<TopicNotFoundException>(() => broker.GetOrLoadTopicAsync(name, createIfMissing: false));
    }

    [Test]
    public async Task CursorLedgerIsReplacedAfterItsMaximumEntriesAndStillRecovers()
    {
        var options = TestOptions();
        options.ManagedCursorMaxEntriesPerLedger = 3;
        options.CursorPersistInterval = TimeSpan.Zero;
        var broker = await StartBrokerAsync(options);
        await CreateNamespaceAsync(broker);
        string name = TopicName("cursor-ledgers");
        var topic = await broker.GetOrLoadTopicAsync(name);
        var consumer = await TestConsumer.SubscribeAsync(topic, "sub", SubscriptionType.Exclusive);
        await PublishAsync(topic, topic.AddProducer("p"), 20);
        var messages = await consumer.ReceiveAsync(20);
        long firstCursorLedger = topic.Subscriptions["sub"].Cursor.CursorLedgerId;
        for (int i = 0; i < 12; i++)
        {
            consumer.Ack(messages[i]);
            await topic.Subscriptions["sub"].Cursor.FlushAsync();
        }
        long laterCursorLedger = topic.Subscriptions["sub"].Cursor.CursorLedgerId;
        Assert.That(laterCursorLedger, Is.Not.EqualTo(firstCursorLedger), "a full cursor ledger is replaced");
        Assert.That(await Cluster.LedgerExistsAsync(firstCursorLedger), Is.False, "and deleted");

        await broker.UnloadTopicAsync(name);
        var reloaded = await broker.GetOrLoadTopicAsync(name);
        var again = await TestConsumer.SubscribeAsync(reloaded, "sub", SubscriptionType.Exclusive);
        var rest = await again.ReceiveAsync(8);
        Assert.That(rest.Select(Text), Is.EqualTo(Enumerable.Range(12, 8).Select(i => $"m-{i}")));
    }

    [Test]
    public async Task RatesAreThoseOfTheLastIntervalAndFallToZeroWhenTrafficStops()
    {
        var options = TestOptions();
        options.StatsUpdateInterval = TimeSpan.FromMilliseconds(300);
        var broker = await StartBrokerAsync(options);
        await CreateNamespaceAsync(broker);
        var topic = await broker.GetOrLoadTopicAsync(TopicName("rates"));
        await PublishAsync(topic, topic.AddProducer("p"), 200);
        // Some interval saw the 200 messages (whichever tick came after them).
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (topic.GetStats().MessagesInPerSecond == 0 && DateTime.UtcNow < deadline) await Task.Delay(50);
        Assert.That(topic.GetStats().MessagesInPerSecond, Is.GreaterThan(0));
        // Two intervals without traffic later, the rate is 0 (it was an average since the previous stats call).
        await Task.Delay(options.StatsUpdateInterval * 3);
        var quiet = topic.GetStats();
        Assert.That((quiet.MessagesInPerSecond, quiet.BytesInPerSecond, quiet.MessagesOutPerSecond), Is.EqualTo((0.0, 0.0, 0.0)));
        Assert.That(quiet.MessagesInTotal, Is.EqualTo(200));
    }

    [Test]
    public async Task SkipCountsMessagesOfBatchesNotEntries()
    {
        var broker = await StartBrokerAsync();
        await CreateNamespaceAsync(broker);
        var topic = await broker.GetOrLoadTopicAsync(TopicName("skip-batches"));
        var producer = topic.AddProducer("p");
        var subscription = await topic.GetOrCreateSubscriptionAsync("audit", SubscriptionType.Exclusive, InitialPosition.Earliest);
        for (int b = 0; b < 3; b++)
        {
            var batch = new StoredBatch { SequenceId = b * 4 };
            for (int i = 0; i < 4; i++) batch.Messages.Add(Message($"b{b}-m{i}"));
            await topic.PublishAsync(producer, batch);
        }

        Assert.That(await subscription.SkipMessagesAsync(5), Is.EqualTo(5), "one whole batch of 4 and the first message of the next");
        Assert.That(subscription.GetStats().BacklogEntries, Is.EqualTo(2));
        var consumer = await TestConsumer.SubscribeAsync(topic, "audit", SubscriptionType.Exclusive);
        var rest = await consumer.ReceiveAsync(7);
        Assert.That(rest.Select(Text), Is.EqualTo(new[] { "b1-m1", "b1-m2", "b1-m3", "b2-m0", "b2-m1", "b2-m2", "b2-m3" }));
        Assert.That(await subscription.SkipMessagesAsync(100), Is.EqualTo(7), "skips what is left, delivered or not");
        Assert.That(subscription.GetStats().BacklogEntries, Is.Zero);
    }
}
