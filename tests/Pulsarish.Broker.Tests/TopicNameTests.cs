using Pulsarish.Broker.Errors;
using Pulsarish.Broker.Topics;

namespace Pulsarish.Broker.Tests;

/// <summary>Topic name parsing (no cluster).</summary>
[TestFixture]
public sealed class TopicNameTests
{
    [TestCase("persistent://acme/orders/new", "acme", "orders", "new", -1)]
    [TestCase("acme/orders/new-partition-3", "acme", "orders", "new-partition-3", 3)]
    [TestCase("plain", "public", "default", "plain", -1)]
    [TestCase("persistent://a/b/x-partition-", "a", "b", "x-partition-", -1)]
    [TestCase("persistent://a/b/x-partition-01", "a", "b", "x-partition-01", -1)]
    public void ParsesFullAndShortForms(string topic, string tenant, string ns, string local, int partition)
    {
        var name = TopicName.Parse(topic);
        Assert.That((name.Tenant, name.Namespace, name.LocalName, name.PartitionIndex), Is.EqualTo((tenant, ns, local, partition)));
        Assert.That(name.FullName, Is.EqualTo($"persistent://{tenant}/{ns}/{local}"));
        Assert.That(TopicName.Parse(name.FullName), Is.EqualTo(name));
    }

    [Test]
    public void PartitionsRoundTripToTheirPartitionedTopic()
    {
        var name = TopicName.Parse("persistent://a/b/orders");
        var p2 = name.Partition(2);
        Assert.That(p2.FullName, Is.EqualTo("persistent://a/b/orders-partition-2"));
        Assert.That(p2.PartitionedTopic, Is.EqualTo(name));
        Assert.That(ManagedLedgerPaths.Topic(TopicName.Parse("a/b/with space")), Is.EqualTo("/managed-ledgers/a/b/with%20space"));
    }

    [TestCase("persistent://t/ns/x/y")]
    [TestCase("kafka://t/ns/x")]
    [TestCase("persistent://t/../x")]
    [TestCase("   ")]
    public void RejectsMalformedNames(string topic)
    {
        Assert.Throws<InvalidTopicNameException>(() => TopicName.Parse(topic));
    }
}
