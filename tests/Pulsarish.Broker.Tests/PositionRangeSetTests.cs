using Pulsarish.Broker.Topics;
using Pulsarish.TestKit;

namespace Pulsarish.Broker.Tests;

/// <summary>The individually-deleted range set against a plain sorted-set model (randomized; seed printed).</summary>
[TestFixture]
public sealed class PositionRangeSetTests
{
    [Test]
    public void RangeSetAgreesWithASortedSetModel()
    {
        int seed = TestSeed.Use();
        var random = new Random(seed);
        for (int round = 0; round < 50; round++)
        {
            var set = new PositionRangeSet();
            var model = new SortedSet<Position>();
            for (int op = 0; op < 300; op++)
            {
                long ledger = random.Next(1, 4);
                long entry = random.Next(0, 60);
                switch (random.Next(10))
                {
                    case < 6:
                        Assert.That(set.Add(new Position(ledger, entry)), Is.EqualTo(model.Add(new Position(ledger, entry))), $"seed {seed}");
                        break;
                    case < 8:
                        long last = entry + random.Next(0, 8);
                        set.AddRange(ledger, entry, last);
                        for (long e = entry; e <= last; e++)
                        {
                            model.Add(new Position(ledger, e));
                        }
                        break;
                    default:
                        var upTo = new Position(ledger, entry);
                        set.RemoveUpTo(upTo);
                        model.RemoveWhere(p => p <= upTo);
                        break;
                }
                Assert.That(set.Count, Is.EqualTo(model.Count), $"seed {seed}");
            }
            var expanded = set.Ranges().SelectMany(r => Enumerable.Range(0, (int)(r.Range.Last - r.Range.First + 1))
                .Select(i => new Position(r.LedgerId, r.Range.First + i))).ToList();
            Assert.That(expanded, Is.EqualTo(model.ToList()), $"seed {seed}");
            var ranges = set.Ranges().ToList();
            for (int i = 1; i < ranges.Count; i++)
            {
                if (ranges[i].LedgerId == ranges[i - 1].LedgerId)
                {
                    Assert.That(ranges[i].Range.First, Is.GreaterThan(ranges[i - 1].Range.Last + 1), "ranges are disjoint and not adjacent");
                }
            }
            foreach (var p in model)
            {
                Assert.That(set.Contains(p) && set.TryGetRangeEnd(p, out long end) && end >= p.EntryId, Is.True);
            }
            Assert.That(set.Contains(new Position(9, 0)), Is.False);
        }
    }
}
