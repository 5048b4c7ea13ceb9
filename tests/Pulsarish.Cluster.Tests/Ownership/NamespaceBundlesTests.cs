using Pulsarish.Broker.Ownership;
using Pulsarish.Protocol.Errors;

namespace Pulsarish.Cluster.Tests.Ownership;

[TestFixture]
public sealed class NamespaceBundlesTests
{
    [Test]
    public void DefaultSplitIsFourPulsarStyleRangesCoveringTheHashSpace()
    {
        var bundles = new NamespaceBundles().All("public/default");
        Assert.That(bundles.Select(b => b.Name), Is.EqualTo(new[]
        {
            "0x00000000_0x40000000", "0x40000000_0x80000000", "0x80000000_0xc0000000", "0xc0000000_0xffffffff",
        }));
        Assert.That(bundles[0].LowerInclusive, Is.Zero);
        Assert.That(bundles[^1].UpperExclusive, Is.EqualTo(NamespaceBundle.HashSpace));
        for (int i = 1; i < bundles.Count; i++)
            Assert.That(bundles[i].LowerInclusive, Is.EqualTo(bundles[i - 1].UpperExclusive), "ranges are contiguous");
        Assert.That(bundles[1].Path, Is.EqualTo("/namespace/public/default/0x40000000_0x80000000"));
    }

    [Test]
    public void ShortAndFullTopicNamesMapToTheSameBundleAndTopicsSpreadOverAllBundles()
    {
        var bundles = new NamespaceBundles(7);
        Assert.That(bundles.Find("orders"), Is.EqualTo(bundles.Find("persistent://public/default/orders")));
        Assert.That(bundles.Find("public/default/orders"), Is.EqualTo(bundles.Find("orders")));
        var seen = new HashSet<string>();
        for (int i = 0; i < 500; i++)
        {
            var b = bundles.Find($"persistent://t/ns/topic-{i}");
            Assert.That(b.Namespace, Is.EqualTo("t/ns"));
            Assert.That(b.Contains(NamespaceBundles.Hash($"persistent://t/ns/topic-{i}")), Is.True);
            seen.Add(b.Name);
        }
        Assert.That(seen, Has.Count.EqualTo(7));
    }

    [Test]
    public void MalformedTopicNamesAreRejectedWithATypedError()
    {
        var bundles = new NamespaceBundles();
        Assert.Throws<BadRequestException>(() => bundles.Find(""));
        Assert.Throws<BadRequestException>(() => bundles.Find("persistent://only-tenant/topic"));
        Assert.Throws<BadRequestException>(() => bundles.Find("http://a/b/c"));
    }

    [Test]
    public void LeastLoadedBrokerWinsAndTiesAreDecidedTheSameWayEverywhere()
    {
        var bundle = new NamespaceBundles().Find("t");
        var a = new BrokerLoadReport("a", "127.0.0.1:1", "i1", 3, 10, 0, 0, 0, 0);
        var b = new BrokerLoadReport("b", "127.0.0.1:2", "i2", 1, 50, 0, 0, 0, 0);
        Assert.That(LeastLoadedBrokerSelector.Select([a, b], bundle)!.BrokerId, Is.EqualTo("b"));
        var c = b with { BrokerId = "c", BundleCount = 3, TopicCount = 10 };
        var a2 = a with { };
        Assert.That(LeastLoadedBrokerSelector.Select([a2, c], bundle)!.BrokerId,
            Is.EqualTo(LeastLoadedBrokerSelector.Select([c, a2], bundle)!.BrokerId), "order of the reports does not matter");
        Assert.That(LeastLoadedBrokerSelector.Select([], bundle), Is.Null);
    }
}
