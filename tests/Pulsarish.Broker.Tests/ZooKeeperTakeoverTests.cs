using Pulsarish.Broker.Admin;
using Pulsarish.Broker.Errors;
using Pulsarish.Metadata;
using Pulsarish.Metadata.ZooKeeper;
using Pulsarish.Protocol.Broker;
using Pulsarish.TestKit;

namespace Pulsarish.Broker.Tests;

/// <summary>The engine on a real ZooKeeper server (the cluster's metadata store): two brokers, one takes over.</summary>
[TestFixture]
[NonParallelizable]
public sealed class ZooKeeperTakeoverTests : BrokerTestBase
{
    [Test]
    public async Task TakeoverOnZooKeeperKeepsMessagesCursorsAndSequenceIds()
    {
        await using var zk = await ZooKeeperServer.StartAsync();
        var zkOptions = new ZooKeeperClientOptions { ConnectString = zk.ConnectString + "/pulsarish", SessionTimeout = TimeSpan.FromSeconds(6) };
        await using var bookieStore = await ZooKeeperMetadataStore.ConnectAsync(zkOptions);
        await using var cluster = await BookieCluster.StartAsync(3, bookieStore,
            async () => await ZooKeeperMetadataStore.ConnectAsync(zkOptions));
        await using var storeA = await ZooKeeperMetadataStore.ConnectAsync(zkOptions);
        await using var storeB = await ZooKeeperMetadataStore.ConnectAsync(zkOptions);
        var options = TestOptions(maxEntriesPerLedger: 40);
        await using var brokerA = await BrokerService.StartAsync(options, storeA, cluster.NewClient());
        await brokerA.Namespaces.CreateTenantAsync("t");
        await brokerA.Namespaces.CreateNamespaceAsync("t", "ns", new Policies { EnsembleSize = 2, WriteQuorum = 2, AckQuorum = 2 });
        const string name = "persistent://t/ns/zk-topic";
        var topicA = await brokerA.GetOrLoadTopicAsync(name);
        var consumerA = await TestConsumer.SubscribeAsync(topicA, "sub", SubscriptionType.Failover);
        var producerA = topicA.AddProducer("p");
        await PublishAsync(topicA, producerA, 100);
        consumerA.Ack(await consumerA.ReceiveAsync(60));
        await Task.Delay(500);

        await using var brokerB = await BrokerService.StartAsync(options, storeB, cluster.NewClient());
        var topicB = await brokerB.GetOrLoadTopicAsync(name);
        Assert.That(topicB.Ledger.NumberOfEntries, Is.EqualTo(100));
        Assert.ThrowsAsync<TopicFencedException>(async () => await topicA.PublishAsync(producerA, Batch(100, "old owner")));

        var producerB = topicB.AddProducer("p");
        Assert.That(producerB.LastSequenceIdAtOpen, Is.EqualTo(99));
        Assert.That((await topicB.PublishAsync(producerB, Batch(99, "dup"))).IsDuplicate, Is.True);
        await topicB.PublishAsync(producerB, Batch(100, "m-100"));
        var consumerB = await TestConsumer.SubscribeAsync(topicB, "sub", SubscriptionType.Failover);
        var rest = await consumerB.ReceiveAsync(41);
        Assert.That(rest.Select(Text), Is.EqualTo(Enumerable.Range(60, 41).Select(i => $"m-{i}")));
    }
}
