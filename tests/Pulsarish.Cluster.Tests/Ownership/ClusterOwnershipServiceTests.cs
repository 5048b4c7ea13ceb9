using Pulsarish.Broker.Errors;
using Pulsarish.Broker.Ownership;
using Pulsarish.Broker.Topics;
using Pulsarish.Metadata;

namespace Pulsarish.Cluster.Tests.Ownership;

/// <summary>The broker engine's ownership seam on bundle ownership, over the in-memory metadata store (fast unit tests).</summary>
[TestFixture]
public sealed class ClusterOwnershipServiceTests
{
    [Test]
    public async Task SessionExpiryUnloadsEveryTopicAndLosingABundleUnloadsOnlyItsTopics()
    {
        await using var tree = EmbeddedMetadataStore.CreateInMemory();
        await using var seam = await StartAsync(tree, "broker-a");
        var lost = new List<Func<TopicName, bool>>();
        seam.OwnershipLost += predicate =>
        {
            lock (lost) lost.Add(predicate);
        };
        var t1 = TopicName.Parse("persistent://public/default/one");
        var other = Enumerable.Range(0, 100).Select(i => TopicName.Parse($"persistent://public/default/x{i}"))
            .First(t => seam.Service.Bundles.Find(t.FullName) != seam.Service.Bundles.Find(t1.FullName));
        await seam.EnsureOwnedAsync(t1);
        await seam.EnsureOwnedAsync(other);

        await seam.Service.ReleaseAsync(seam.Service.Bundles.Find(t1.FullName));
        Assert.That(lost, Has.Count.EqualTo(1));
        Assert.That(lost[0](t1), Is.True, "the released bundle's topic is unloaded");
        Assert.That(lost[0](other), Is.False, "topics of other bundles stay");

        await tree.ExpireSessionAsync();
        bool AllLost()
        {
            lock (lost) return lost.Any(p => p(other) && p(TopicName.Parse("persistent://t/n/anything")));
        }
        await Eventually.That(AllLost, TimeSpan.FromSeconds(10), "a lost session unloads every topic");
        Assert.That(seam.Service.IsOwnedByMe(other.FullName), Is.False);
    }

    [Test]
    public async Task TopicOwnedByAnotherBrokerIsRefusedWithNotOwnerAndLookupPointsThere()
    {
        await using var tree = EmbeddedMetadataStore.CreateInMemory();
        var otherSession = tree.CreateSession();
        await using var a = await StartAsync(tree, "broker-a");
        await using var b = await StartAsync(otherSession, "broker-b");
        var topic = TopicName.Parse("persistent://public/default/owned");
        await b.EnsureOwnedAsync(topic);

        Assert.ThrowsAsync<NotOwnerException>(() => a.EnsureOwnedAsync(topic));
        var (address, isLocal) = await a.LookupAsync(topic);
        Assert.That(address, Is.EqualTo(b.Service.Address));
        Assert.That(isLocal, Is.False);
        Assert.That(await b.LookupAsync(topic), Is.EqualTo((b.Service.Address, true)));
    }

    [Test]
    public async Task AuthoritativeLookupTakesAnUnownedBundleThatAPlainLookupWouldRedirect()
    {
        await using var tree = EmbeddedMetadataStore.CreateInMemory();
        var otherSession = tree.CreateSession();
        await using var a = await StartAsync(tree, "broker-a");
        await using var b = await StartAsync(otherSession, "broker-b");
        TopicName? redirected = null;
        for (int i = 0; i < 200 && redirected is null; i++)
        {
            var candidate = TopicName.Parse($"persistent://public/default/auth-{i}");
            var (address, isLocal) = await a.LookupAsync(candidate);
            if (!isLocal && address == b.Service.Address) redirected = candidate;
        }
        Assert.That(redirected, Is.Not.Null, "broker-a sends some unowned bundle to broker-b");
        Assert.That(b.Service.IsOwnedByMe(redirected!.FullName), Is.False, "a plain lookup acquires nothing elsewhere");

        // The client was sent to broker-a by someone else: broker-a takes the bundle instead of redirecting again.
        Assert.That(await a.LookupAsync(redirected, authoritative: true), Is.EqualTo((a.Service.Address, true)));
        Assert.That(a.Service.IsOwnedByMe(redirected.FullName), Is.True);
        Assert.That(await b.LookupAsync(redirected), Is.EqualTo((a.Service.Address, false)), "broker-b now points to the owner");
    }

    [Test]
    public async Task OptionsAreValidatedAtConstruction()
    {
        await using var tree = EmbeddedMetadataStore.CreateInMemory();
        Assert.Throws<System.ComponentModel.DataAnnotations.ValidationException>(() =>
            _ = new OwnershipService(tree, new OwnershipOptions { BrokerId = "a/b", AdvertisedAddress = "x:1" }));
        Assert.Throws<System.ComponentModel.DataAnnotations.ValidationException>(() =>
            _ = new OwnershipService(tree, new OwnershipOptions { BrokerId = "a", AdvertisedAddress = "x:1", BundlesPerNamespace = 0 }));
        Assert.Throws<System.ComponentModel.DataAnnotations.ValidationException>(() =>
            _ = new OwnershipService(tree, new OwnershipOptions { BrokerId = "a", AdvertisedAddress = "" }));
    }

    private static async Task<ClusterOwnershipService> StartAsync(IMetadataStore store, string brokerId)
    {
        var service = new OwnershipService(store, new OwnershipOptions
        {
            BrokerId = brokerId,
            AdvertisedAddress = $"{brokerId}:6650",
        });
        await service.StartAsync();
        return new ClusterOwnershipService(service);
    }
}
