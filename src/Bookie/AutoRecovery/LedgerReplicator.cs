using Microsoft.Extensions.Logging;
using Pulsarish.Protocol.Errors;
using Pulsarish.Ledgers;
using Pulsarish.Metadata;
using Pulsarish.Protocol.Metadata;
using StatusCode = Pulsarish.Protocol.Bookie.StatusCode;

namespace Pulsarish.Bookie.AutoRecovery;

/// <summary>
/// Re-replicates one ledger (the body of BookKeeper's ReplicationWorker.rereplicate): for every fragment with a lost
/// bookie, picks a replacement by the placement policy, copies that position's entries to it and compare-and-sets
/// the new ensemble into the ledger metadata (DESIGN.md §7). The unended last fragment of an OPEN ledger is left to
/// its writer for <see cref="AutoRecoveryOptions.OpenLedgerRereplicationGracePeriod"/>; then the ledger is fenced,
/// its tail copied, and it is closed by open-with-recovery. Thread-safe.
/// </summary>
public sealed class LedgerReplicator(
    LedgerMetadataStore ledgers, IBookieDirectory directory, IBookieClient bookies, LedgerClient recoveryClient,
    LedgerFragmentReplicator copier, AutoRecoveryOptions options, AutoRecoveryMetrics metrics, ILogger logger)
{
    private const int MaxRounds = 1_000;

    /// <summary>
    /// Replicates every fragment of <paramref name="ledgerId"/> that includes a bookie of <paramref name="missing"/>
    /// or an unregistered bookie. Returns true when nothing is left to do (also when the ledger is gone), false when
    /// some fragment could not be replicated yet (the task must stay).
    /// </summary>
    public async Task<bool> ReplicateAsync(long ledgerId, IReadOnlySet<string> missing, DateTimeOffset taskCreated,
        CancellationToken ct)
    {
        long? fencedTailEnd = null;
        var repairedInPlace = new HashSet<(int Fragment, int Index)>();
        for (int round = 0; round < MaxRounds; round++)
        {
            var current = await ledgers.ReadAsync(ledgerId, ct).ConfigureAwait(false);
            if (current is null)
            {
                return true; // deleted: nothing to protect
            }
            var (metadata, version) = current.Value;
            var available = await directory.GetAvailableAsync(ct).ConfigureAwait(false);
            var availableIds = new HashSet<string>(StringComparer.Ordinal);
            foreach (var info in available)
            {
                availableIds.Add(info.BookieId);
            }
            bool Bad(string bookie) => missing.Contains(bookie) || !availableIds.Contains(bookie);

            int workFragment = -1, workIndex = -1;
            long workEnd = 0;
            bool tailPending = false;
            for (int f = 0; f < metadata.Fragments.Count && workFragment < 0; f++)
            {
                var fragment = metadata.Fragments[f];
                for (int j = 0; j < fragment.Bookies.Count; j++)
                {
                    if (!Bad(fragment.Bookies[j]) || repairedInPlace.Contains((f, j)))
                    {
                        continue;
                    }
                    long? end = FragmentRange.LastEntryId(metadata, f) ?? fencedTailEnd;
                    if (end is null)
                    {
                        tailPending = true; // the writer's unended fragment
                        continue;
                    }
                    (workFragment, workIndex, workEnd) = (f, j, end.Value);
                    break;
                }
            }

            if (workFragment < 0)
            {
                if (tailPending)
                {
                    if (DateTimeOffset.UtcNow - taskCreated < options.OpenLedgerRereplicationGracePeriod)
                    {
                        logger.LogDebug("Ledger {LedgerId}: open tail left to its writer for now", ledgerId);
                        return false;
                    }
                    fencedTailEnd = await FenceTailAsync(metadata, version, availableIds, ct).ConfigureAwait(false);
                    if (fencedTailEnd is null)
                    {
                        return false;
                    }
                    continue;
                }
                if (fencedTailEnd is not null && metadata.State != LedgerState.Closed)
                {
                    // Tail copied to live bookies: recovery can now fence, rewrite and close — DESIGN §4.
                    await recoveryClient.OpenWithRecoveryAsync(ledgerId, ct).ConfigureAwait(false);
                    fencedTailEnd = null;
                    continue;
                }
                return true;
            }

            var ensemble = metadata.Fragments[workFragment].Bookies;
            string lost = ensemble[workIndex];
            string target = ChooseTarget(metadata, workFragment, workIndex, available, missing, availableIds);
            long first = metadata.Fragments[workFragment].FirstEntryId;
            bool isTail = FragmentRange.LastEntryId(metadata, workFragment) is null;
            var preferred = new HashSet<string>(StringComparer.Ordinal);
            foreach (string b in ensemble)
            {
                if (!Bad(b))
                {
                    preferred.Add(b);
                }
            }
            long? copied = workEnd >= first
                ? await copier.CopyAsync(metadata, workFragment, workIndex, first, workEnd, target, preferred, isTail, ct).ConfigureAwait(false)
                : first - 1;
            if (copied is null)
            {
                logger.LogWarning("Ledger {LedgerId}: copying fragment {Fragment} of {Bookie} to {Target} failed",
                    ledgerId, workFragment, lost, target);
                return false;
            }
            if (target == lost)
            {
                repairedInPlace.Add((workFragment, workIndex));
                logger.LogInformation("Ledger {LedgerId}: fragment {Fragment} repaired in place on {Bookie}", ledgerId, workFragment, lost);
                continue;
            }
            if (await ReplaceInEnsembleAsync(ledgerId, metadata, version, workFragment, workIndex, lost, target, ct).ConfigureAwait(false))
            {
                metrics.ReplicatedFragments.Inc();
                logger.LogInformation(
                    "Ledger {LedgerId}: fragment {Fragment} (entries {First}..{Last}) moved from {Bookie} to {Target}",
                    ledgerId, workFragment, first, workEnd, lost, target);
            }
        }
        return false;
    }

    private string ChooseTarget(LedgerMetadata metadata, int fragment, int index, IReadOnlyList<BookieServiceInfo> available,
        IReadOnlySet<string> missing, IReadOnlySet<string> availableIds)
    {
        var ensemble = metadata.Fragments[fragment].Bookies;
        var excluded = new HashSet<string>(missing, StringComparer.Ordinal);
        excluded.UnionWith(ensemble);
        var writable = new List<BookieServiceInfo>(available.Count);
        foreach (var info in available)
        {
            if (!info.ReadOnly)
            {
                writable.Add(info);
            }
        }
        try
        {
            return options.PlacementPolicy.ReplaceBookie(ensemble, index, metadata.WriteQuorum, writable, excluded);
        }
        catch (NotEnoughBookiesException) when (availableIds.Contains(ensemble[index]))
        {
            // No spare bookie, but the one missing entries is up (e.g. back with an empty disk): refill it.
            return ensemble[index];
        }
    }

    /// <summary>
    /// Fences a ledger whose writer did not end its last fragment in time: OPEN → IN_RECOVERY by CAS, then
    /// fence-and-read-LAC on the live bookies of the last fragment. Returns the highest entry id they hold, or null
    /// when not enough of them answered (Qw−Qa+1 of every write set — DESIGN §4.2).
    /// </summary>
    private async Task<long?> FenceTailAsync(LedgerMetadata metadata, long version, IReadOnlySet<string> availableIds, CancellationToken ct)
    {
        long ledgerId = metadata.LedgerId;
        while (metadata.State == LedgerState.Open)
        {
            var inRecovery = metadata.Clone();
            inRecovery.State = LedgerState.InRecovery;
            try
            {
                version = await ledgers.UpdateAsync(inRecovery, version, ct).ConfigureAwait(false);
                metadata = inRecovery;
                logger.LogInformation("Ledger {LedgerId}: writer did not end its last fragment in time, fencing", ledgerId);
            }
            catch (BadVersionException)
            {
                var fresh = await ledgers.ReadAsync(ledgerId, ct).ConfigureAwait(false);
                if (fresh is null)
                {
                    return null;
                }
                (metadata, version) = fresh.Value;
            }
        }
        if (metadata.State == LedgerState.Closed)
        {
            return metadata.LastEntryId;
        }
        var tail = metadata.Fragments[^1];
        var fences = new List<(int Index, Task<BookieLacResult> Fence)>();
        for (int j = 0; j < tail.Bookies.Count; j++)
        {
            if (availableIds.Contains(tail.Bookies[j]))
            {
                fences.Add((j, bookies.FenceAsync(tail.Bookies[j], ledgerId, metadata.MasterKey.Memory, ct)));
            }
        }
        ulong answered = 0;
        long end = tail.FirstEntryId - 1;
        foreach (var (index, fence) in fences)
        {
            var result = await fence.ConfigureAwait(false);
            if (result.Status is StatusCode.Ok or StatusCode.NoSuchLedger)
            {
                answered |= 1UL << index;
                end = Math.Max(end, result.LastEntryId);
            }
        }
        if (!WriteSet.Covers(answered, metadata.EnsembleSize, metadata.WriteQuorum, metadata.WriteQuorum - metadata.AckQuorum + 1))
        {
            logger.LogWarning("Ledger {LedgerId}: too few bookies of the last fragment answered the fence", ledgerId);
            return null;
        }
        return end;
    }

    /// <summary>CAS of the new ensemble; retried on a concurrent change while fragment and bookie are unchanged.</summary>
    private async Task<bool> ReplaceInEnsembleAsync(long ledgerId, LedgerMetadata metadata, long version, int fragment, int index,
        string lost, string target, CancellationToken ct)
    {
        long firstEntryId = metadata.Fragments[fragment].FirstEntryId;
        while (true)
        {
            if (fragment >= metadata.Fragments.Count || metadata.Fragments[fragment].FirstEntryId != firstEntryId
                || metadata.Fragments[fragment].Bookies[index] != lost || metadata.Fragments[fragment].Bookies.Contains(target))
            {
                return false; // the ensemble changed under us: the next round re-plans
            }
            var updated = metadata.Clone();
            updated.Fragments[fragment].Bookies[index] = target;
            try
            {
                await ledgers.UpdateAsync(updated, version, ct).ConfigureAwait(false);
                return true;
            }
            catch (BadVersionException)
            {
                var fresh = await ledgers.ReadAsync(ledgerId, ct).ConfigureAwait(false);
                if (fresh is null)
                {
                    return false;
                }
                (metadata, version) = fresh.Value;
            }
        }
    }
}
