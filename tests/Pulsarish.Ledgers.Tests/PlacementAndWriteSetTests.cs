using Pulsarish.Protocol.Errors;
using Pulsarish.Ledgers;
using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Ledgers.Tests;

[TestFixture]
public sealed class PlacementAndWriteSetTests
{
    private static List<BookieServiceInfo> Bookies(params (string Id, string Rack)[] bookies)
        => bookies.Select(b => new BookieServiceInfo { BookieId = b.Id, Address = "x:1", Rack = b.Rack }).ToList();

    [Test]
    public void WriteSetStripesRoundRobin()
    {
        Assert.That(Enumerable.Range(0, 3).Select(i => WriteSet.BookieIndex(4, i, 5)), Is.EqualTo(new[] { 4, 0, 1 }));
        Assert.That(WriteSet.Contains(4, 0, 5, 3), Is.True);
        Assert.That(WriteSet.Contains(4, 2, 5, 3), Is.False);
        Assert.That(WriteSet.PositionOf(4, 1, 5, 3), Is.EqualTo(2));
    }

    [Test]
    public void CoverageNeedsEnoughAnswersInEveryWriteSet()
    {
        // E=5, Qw=3, Qa=2: fenced once 2 of every write set answered.
        Assert.That(WriteSet.Covers(0b11111, 5, 3, 2), Is.True);
        Assert.That(WriteSet.Covers(0b10101, 5, 3, 2), Is.False, "write set {1,2,3} has only bookie 2");
        Assert.That(WriteSet.Covers(0b11011, 5, 3, 2), Is.True);
        Assert.That(WriteSet.CoverageImpossible(0b00110, 5, 3, 2), Is.True, "write set {1,2,3} lost two");
        Assert.That(WriteSet.CoverageImpossible(0b00100, 5, 3, 2), Is.False);
        // Qw = E: a single write set.
        Assert.That(WriteSet.Covers(0b011, 3, 3, 2), Is.True);
    }

    [Test]
    public void RandomPlacementSkipsExcludedAndReadOnlyBookies()
    {
        var available = Bookies(("a", ""), ("b", ""), ("c", ""), ("d", ""));
        available[3].ReadOnly = true;
        var policy = new RandomPlacementPolicy();
        for (int i = 0; i < 20; i++)
        {
            var ensemble = policy.NewEnsemble(2, 2, 2, available, new HashSet<string> { "a" });
            Assert.That(ensemble, Is.EquivalentTo(new[] { "b", "c" }));
        }
        Assert.Throws<NotEnoughBookiesException>(() => policy.NewEnsemble(3, 2, 2, available, new HashSet<string> { "a" }));
        Assert.That(policy.ReplaceBookie(new[] { "a", "b" }, 0, 2, available, new HashSet<string>()), Is.EqualTo("c"));
        Assert.Throws<NotEnoughBookiesException>(() => policy.ReplaceBookie(new[] { "a", "b", "c" }, 0, 2, available, new HashSet<string>()));
    }

    [Test]
    public void RackAwarePlacementPutsEveryWriteSetInDistinctRacks()
    {
        var available = Bookies(("a1", "/r1"), ("a2", "/r1"), ("a3", "/r1"), ("b1", "/r2"), ("b2", "/r2"), ("c1", "/r3"), ("c2", "/r3"));
        var rackOf = available.ToDictionary(b => b.BookieId, b => b.Rack);
        var policy = new RackAwarePlacementPolicy();
        for (int round = 0; round < 50; round++)
        {
            var ensemble = policy.NewEnsemble(6, 3, 2, available, new HashSet<string>());
            Assert.That(ensemble.Distinct().Count(), Is.EqualTo(6));
            for (int start = 0; start < 6; start++)
            {
                var racks = Enumerable.Range(0, 3).Select(i => rackOf[ensemble[(start + i) % 6]]).ToList();
                Assert.That(racks.Distinct().Count(), Is.EqualTo(3), $"write set at {start} of {string.Join(",", ensemble)}");
            }
        }
    }

    [Test]
    public void RackAwareReplacementAvoidsRacksOfTheSameWriteSets()
    {
        var available = Bookies(("a1", "/r1"), ("a2", "/r1"), ("b1", "/r2"), ("b2", "/r2"), ("c1", "/r3"), ("c2", "/r3"));
        var policy = new RackAwarePlacementPolicy();
        // Ensemble a1,b1,c1 with Qw=2: replacing b1 (index 1) shares write sets with a1 and c1, so /r2 is preferred.
        for (int round = 0; round < 20; round++)
        {
            var replacement = policy.ReplaceBookie(new[] { "a1", "b1", "c1" }, 1, 2, available, new HashSet<string> { "b1" });
            Assert.That(replacement, Is.EqualTo("b2"));
        }
    }

    [Test]
    public async Task CreateLedgerUsesThePlacementPolicyGiven()
    {
        await using var env = new Fakes.FakeLedgerEnvironment(6, rackOf: i => $"/rack-{i % 3}");
        var handle = await env.Client.CreateLedgerAsync(3, 3, 2, new RackAwarePlacementPolicy());
        var racks = handle.Metadata.Fragments[0].Bookies.Select(b => env.Cluster[b].Rack).Distinct().Count();
        Assert.That(racks, Is.EqualTo(3));
    }
}
