using System.Diagnostics;
using Pulsarish.Protocol.Bookie;
using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Ledgers;

/// <summary>
/// Asks every bookie of a ledger's last fragment for its LAC — with fencing for recovery, without for readers —
/// and returns once the answers cover the ensemble: at least Qw−Qa+1 bookies of every write set answered
/// (DESIGN.md §4.2). BookKeeper's ReadLastConfirmedOp.
/// </summary>
internal static class ReadLastConfirmedOp
{
    /// <summary>Highest LAC among the answers, once covered. Throws <see cref="LedgerRecoveryException"/> when coverage became impossible.</summary>
    public static async Task<long> RunAsync(IBookieClient bookies, LedgerMetadata metadata, bool fence, CancellationToken ct)
    {
        var fragment = metadata.Fragments[^1];
        int ensembleSize = metadata.EnsembleSize;
        int writeQuorum = metadata.WriteQuorum;
        int required = writeQuorum - metadata.AckQuorum + 1;
        Debug.Assert(required >= 1 && required <= writeQuorum && writeQuorum <= ensembleSize, "1 ≤ Qw−Qa+1 ≤ Qw ≤ E");
        var masterKey = metadata.MasterKey.Memory;
        var tasks = new List<Task<BookieLacResult>>(ensembleSize);
        var indexOf = new Dictionary<Task<BookieLacResult>, int>(ensembleSize);
        for (int index = 0; index < ensembleSize; index++)
        {
            string bookieId = fragment.Bookies[index];
            var task = fence
                ? bookies.FenceAsync(bookieId, metadata.LedgerId, masterKey, ct)
                : bookies.ReadLacAsync(bookieId, metadata.LedgerId, ct);
            tasks.Add(task);
            indexOf[task] = index;
        }
        ulong answered = 0;
        ulong failed = 0;
        long maxLac = -1;
        string problems = "";
        while (tasks.Count > 0)
        {
            var finished = await Task.WhenAny(tasks).ConfigureAwait(false);
            tasks.Remove(finished);
            var result = await finished.ConfigureAwait(false);
            int index = indexOf[finished];
            // A bookie that never saw the ledger answers NO_SUCH_LEDGER: it holds nothing and (when fencing) is fenced.
            if (result.Status is StatusCode.Ok or StatusCode.NoSuchLedger)
            {
                answered |= 1UL << index;
                if (result.Status == StatusCode.Ok)
                {
                    maxLac = Math.Max(maxLac, result.Lac);
                }
                // Fenced once, for every write set, Qw−Qa+1 of its bookies answered — DESIGN §4.2.
                if (WriteSet.Covers(answered, ensembleSize, writeQuorum, required))
                {
                    Debug.Assert(EveryWriteSetAnswered(answered, ensembleSize, writeQuorum, metadata.AckQuorum),
                        "fenced only once Qw−Qa+1 bookies of every write set answered");
                    return maxLac;
                }
            }
            else
            {
                failed |= 1UL << index;
                problems += $" {fragment.Bookies[index]}={result.Status}";
                if (WriteSet.CoverageImpossible(failed, ensembleSize, writeQuorum, required))
                {
                    break;
                }
            }
        }
        ct.ThrowIfCancellationRequested();
        throw new LedgerRecoveryException(metadata.LedgerId,
            $"{(fence ? "fence" : "read-LAC")} answers do not cover every write set:{problems}");
    }

    /// <summary>
    /// The fencing rule checked independently of <see cref="WriteSet.Covers"/>: the write set of every entry position
    /// 0..E-1 (each distinct write set is one of them) has at least Qw−Qa+1 answers in <paramref name="answered"/>.
    /// </summary>
    private static bool EveryWriteSetAnswered(ulong answered, int ensembleSize, int writeQuorum, int ackQuorum)
    {
        for (long entryId = 0; entryId < ensembleSize; entryId++)
        {
            int answers = 0;
            for (int position = 0; position < writeQuorum; position++)
            {
                if ((answered & (1UL << WriteSet.BookieIndex(entryId, position, ensembleSize))) != 0)
                {
                    answers++;
                }
            }
            if (answers < writeQuorum - ackQuorum + 1)
            {
                return false;
            }
        }
        return true;
    }
}
