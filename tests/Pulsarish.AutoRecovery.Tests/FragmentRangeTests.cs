using Pulsarish.Bookie.AutoRecovery;
using Pulsarish.Ledgers;
using Pulsarish.Protocol.Metadata;

namespace Pulsarish.AutoRecovery.Tests;

/// <summary>Fragment ranges and the entries each ensemble position holds, against a brute-force model.</summary>
[TestFixture]
public sealed class FragmentRangeTests
{
    [Test]
    public void FirstAndLastHeldEntriesMatchABruteForceScanOfTheWriteSets()
    {
        int seed = TestSeed.Use();
        var random = new Random(seed);
        for (int round = 0; round < 2_000; round++)
        {
            int e = random.Next(1, 8);
            int qw = random.Next(1, e + 1);
            var metadata = new LedgerMetadata { EnsembleSize = e, WriteQuorum = qw, AckQuorum = 1 };
            long first = random.Next(0, 50);
            long last = first + random.Next(-1, 20);
            int index = random.Next(e);
            var held = new List<long>();
            for (long entry = first; entry <= last; entry++)
            {
                if (WriteSet.Contains(entry, index, e, qw))
                {
                    held.Add(entry);
                }
            }
            string context = $"seed {seed} E={e} Qw={qw} [{first}..{last}] index {index}";
            Assert.That(FragmentRange.HoldsAny(metadata, index, first, last), Is.EqualTo(held.Count > 0), context);
            Assert.That(FragmentRange.FirstHeld(metadata, index, first, last), Is.EqualTo(held.Count > 0 ? held[0] : -1), context);
            Assert.That(FragmentRange.LastHeld(metadata, index, first, last), Is.EqualTo(held.Count > 0 ? held[^1] : -1), context);
        }
    }

    [Test]
    public void OnlyTheLastFragmentOfANotClosedLedgerIsUnended()
    {
        var metadata = new LedgerMetadata { EnsembleSize = 3, WriteQuorum = 2, AckQuorum = 2, State = LedgerState.Open, LastEntryId = -1 };
        metadata.Fragments.Add(new Fragment { FirstEntryId = 0, Bookies = { "a", "b", "c" } });
        metadata.Fragments.Add(new Fragment { FirstEntryId = 10, Bookies = { "a", "d", "c" } });
        Assert.That(FragmentRange.LastEntryId(metadata, 0), Is.EqualTo(9));
        Assert.That(FragmentRange.LastEntryId(metadata, 1), Is.Null);
        metadata.State = LedgerState.Closed;
        metadata.LastEntryId = 14;
        Assert.That(FragmentRange.LastEntryId(metadata, 1), Is.EqualTo(14));
    }
}
