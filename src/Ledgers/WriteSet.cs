using System.Diagnostics;

namespace Pulsarish.Ledgers;

/// <summary>
/// Round-robin striping of DESIGN.md §3.1: entry <c>e</c> of a fragment with ensemble <c>B[0..E-1]</c> goes to
/// <c>B[(e+i) mod E]</c> for i in 0..Qw-1. Allocation-free; "position" is i, "bookie index" is the ensemble index.
/// </summary>
public static class WriteSet
{
    /// <summary>Ensemble index of write-set position <paramref name="position"/> of <paramref name="entryId"/>.</summary>
    public static int BookieIndex(long entryId, int position, int ensembleSize)
    {
        Debug.Assert(entryId >= 0 && position >= 0 && ensembleSize > 0);
        return (int)((entryId + position) % ensembleSize);
    }

    /// <summary>Write-set position of ensemble index <paramref name="bookieIndex"/> for the entry, or -1 when not in it.</summary>
    public static int PositionOf(long entryId, int bookieIndex, int ensembleSize, int writeQuorum)
    {
        int first = (int)(entryId % ensembleSize);
        int position = (bookieIndex - first + ensembleSize) % ensembleSize;
        return position < writeQuorum ? position : -1;
    }

    /// <summary>Whether the write set of <paramref name="entryId"/> contains ensemble index <paramref name="bookieIndex"/>.</summary>
    public static bool Contains(long entryId, int bookieIndex, int ensembleSize, int writeQuorum)
        => PositionOf(entryId, bookieIndex, ensembleSize, writeQuorum) >= 0;

    /// <summary>
    /// Number of distinct write sets of an ensemble: E (one starting at each index), or 1 when Qw = E.
    /// Write set <c>s</c> is the indices s..s+Qw-1 mod E.
    /// </summary>
    public static int DistinctWriteSets(int ensembleSize, int writeQuorum) => writeQuorum == ensembleSize ? 1 : ensembleSize;

    /// <summary>
    /// True when, for every write set, at least <paramref name="required"/> of its bookies are in
    /// <paramref name="answeredMask"/> (bit i = ensemble index i). With required = Qw−Qa+1 this is DESIGN §4's
    /// "fenced" condition: no write set can still gather Qa acks for an old writer.
    /// </summary>
    public static bool Covers(ulong answeredMask, int ensembleSize, int writeQuorum, int required)
    {
        int sets = DistinctWriteSets(ensembleSize, writeQuorum);
        for (int s = 0; s < sets; s++)
        {
            int count = 0;
            for (int i = 0; i < writeQuorum; i++)
            {
                if ((answeredMask & (1UL << ((s + i) % ensembleSize))) != 0)
                {
                    count++;
                }
            }
            if (count < required)
            {
                return false;
            }
        }
        return true;
    }

    /// <summary>
    /// True when some write set has more than Qw − <paramref name="required"/> bookies in <paramref name="failedMask"/>,
    /// i.e. <see cref="Covers"/> can no longer become true.
    /// </summary>
    public static bool CoverageImpossible(ulong failedMask, int ensembleSize, int writeQuorum, int required)
    {
        int sets = DistinctWriteSets(ensembleSize, writeQuorum);
        for (int s = 0; s < sets; s++)
        {
            int failed = 0;
            for (int i = 0; i < writeQuorum; i++)
            {
                if ((failedMask & (1UL << ((s + i) % ensembleSize))) != 0)
                {
                    failed++;
                }
            }
            if (writeQuorum - failed < required)
            {
                return true;
            }
        }
        return false;
    }
}
