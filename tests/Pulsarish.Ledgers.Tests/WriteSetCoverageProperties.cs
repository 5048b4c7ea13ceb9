using FsCheck;
using FsCheck.Fluent;
using Microsoft.FSharp.Core;
using Pulsarish.Ledgers;
using Pulsarish.TestKit;

namespace Pulsarish.Ledgers.Tests;

/// <summary>
/// FsCheck properties of the coverage rule of DESIGN §4 against a brute-force model. FsCheck's generator starts from
/// <see cref="TestSeed"/> (printed; PULSARISH_TEST_SEED replays it).
/// </summary>
[TestFixture]
public sealed class WriteSetCoverageProperties
{
    private static readonly Gen<(int E, int Qw, int Qa, ulong Mask)> Cases =
        from e in Gen.Choose(1, 9)
        from qw in Gen.Choose(1, e)
        from qa in Gen.Choose(1, qw)
        from mask in Gen.Choose(0, (1 << e) - 1)
        select (e, qw, qa, (ulong)mask);

    /// <summary>Quick check, throwing on failure, with FsCheck's random stream seeded from <see cref="TestSeed"/>.</summary>
    private static void Check(Property property)
    {
        int seed = TestSeed.Use();
        var replay = new Replay(new Rnd(unchecked((ulong)seed)), FSharpOption<int>.None);
        FsCheck.Check.One(Config.QuickThrowOnFailure.WithReplay(FSharpOption<Replay>.Some(replay)), property);
    }

    private static IEnumerable<int[]> WriteSets(int e, int qw)
        => Enumerable.Range(0, e).Select(s => Enumerable.Range(0, qw).Select(i => (s + i) % e).ToArray());

    [Test]
    public void FencedExactlyWhenNoWriteSetCanStillGatherAckQuorumOutsideTheAnswers()
    {
        Check(Prop.ForAll(Cases.ToArbitrary(), c =>
        {
            // Model: an old writer could still complete an add iff some write set has Qa bookies that did not answer.
            bool writerCanStillAck = WriteSets(c.E, c.Qw).Any(ws => ws.Count(i => (c.Mask & (1UL << i)) == 0) >= c.Qa);
            return WriteSet.Covers(c.Mask, c.E, c.Qw, c.Qw - c.Qa + 1) == !writerCanStillAck;
        }));
    }

    [Test]
    public void CoverageIsImpossibleExactlyWhenFailuresLeaveSomeWriteSetShort()
    {
        Check(Prop.ForAll(Cases.ToArbitrary(), c =>
        {
            int required = c.Qw - c.Qa + 1;
            bool someSetShort = WriteSets(c.E, c.Qw).Any(ws => ws.Count(i => (c.Mask & (1UL << i)) == 0) < required);
            return WriteSet.CoverageImpossible(c.Mask, c.E, c.Qw, required) == someSetShort;
        }));
    }

    [Test]
    public void PositionOfInvertsBookieIndex()
    {
        Check(Prop.ForAll(Cases.ToArbitrary(), Gen.Choose(0, 10_000).ToArbitrary(), (c, entry) =>
        {
            for (int position = 0; position < c.Qw; position++)
            {
                int index = WriteSet.BookieIndex(entry, position, c.E);
                if (WriteSet.PositionOf(entry, index, c.E, c.Qw) != position)
                {
                    return false;
                }
            }
            int inSet = Enumerable.Range(0, c.E).Count(i => WriteSet.Contains(entry, i, c.E, c.Qw));
            return inSet == c.Qw;
        }));
    }
}
