using Microsoft.Extensions.Logging;
using Pulsarish.Protocol.Checksums;
using Pulsarish.Ledgers;
using Pulsarish.Protocol.Metadata;
using StatusCode = Pulsarish.Protocol.Bookie.StatusCode;

namespace Pulsarish.Bookie.AutoRecovery;

/// <summary>
/// Copies the entries one ensemble position of a fragment should hold to a target bookie (BookKeeper's
/// LedgerFragmentReplicator): each entry is read from another bookie of its write set, its digest verified, then
/// written to the target as a recovery add with the original entry id, LAC and digest. Throttled by a shared
/// <see cref="TokenBucket"/>. Thread-safe.
/// </summary>
public sealed class LedgerFragmentReplicator(
    IBookieClient bookies, TokenBucket throttle, AutoRecoveryOptions options, AutoRecoveryMetrics metrics, ILogger logger)
{
    /// <summary>
    /// Copies every entry of [first, last] whose write set contains ensemble index <paramref name="bookieIndex"/> of
    /// fragment <paramref name="fragmentIndex"/> to <paramref name="target"/>. Sources are the other bookies of each
    /// write set, those in <paramref name="preferredSources"/> first. With <paramref name="stopAtFirstUnreadable"/>
    /// (the tail of a ledger in recovery) an entry no bookie has ends the copy; otherwise it fails it.
    /// Returns the last entry copied (first − 1 when none), or null on failure.
    /// </summary>
    public async Task<long?> CopyAsync(LedgerMetadata metadata, int fragmentIndex, int bookieIndex, long first, long last,
        string target, IReadOnlySet<string> preferredSources, bool stopAtFirstUnreadable, CancellationToken ct)
    {
        var fragment = metadata.Fragments[fragmentIndex];
        int e = metadata.EnsembleSize;
        var inFlight = new Queue<(long EntryId, Task<CopyOutcome> Copy)>(options.MaxEntriesInFlight);
        long lastCopied = first - 1;
        bool failed = false;
        bool stopped = false;
        for (long entry = first; entry <= last && !failed && !stopped; entry++)
        {
            if (!WriteSet.Contains(entry, bookieIndex, e, metadata.WriteQuorum))
            {
                continue;
            }
            if (inFlight.Count == options.MaxEntriesInFlight)
            {
                (failed, stopped, lastCopied) = Settle(await Drain(inFlight).ConfigureAwait(false), stopAtFirstUnreadable, lastCopied);
            }
            await throttle.TakeAsync(ct).ConfigureAwait(false);
            inFlight.Enqueue((entry, CopyEntryAsync(metadata, fragment, bookieIndex, entry, target, preferredSources, ct)));
        }
        while (inFlight.Count > 0)
        {
            var outcome = await Drain(inFlight).ConfigureAwait(false);
            if (!failed && !stopped)
            {
                (failed, stopped, lastCopied) = Settle(outcome, stopAtFirstUnreadable, lastCopied);
            }
        }
        return failed ? null : lastCopied;
    }

    private static async Task<(long EntryId, CopyOutcome Outcome)> Drain(Queue<(long EntryId, Task<CopyOutcome> Copy)> inFlight)
    {
        var (entryId, copy) = inFlight.Dequeue();
        return (entryId, await copy.ConfigureAwait(false));
    }

    private (bool Failed, bool Stopped, long LastCopied) Settle((long EntryId, CopyOutcome Outcome) result, bool stopAtFirstUnreadable,
        long lastCopied)
    {
        switch (result.Outcome)
        {
            case CopyOutcome.Copied:
                return (false, false, result.EntryId);
            case CopyOutcome.Unreadable when stopAtFirstUnreadable:
                return (false, true, lastCopied);
            default:
                logger.LogWarning("Copy of entry {EntryId} failed: {Outcome}", result.EntryId, result.Outcome);
                return (true, false, lastCopied);
        }
    }

    private async Task<CopyOutcome> CopyEntryAsync(LedgerMetadata metadata, Fragment fragment, int bookieIndex, long entryId,
        string target, IReadOnlySet<string> preferredSources, CancellationToken ct)
    {
        int e = metadata.EnsembleSize;
        var sources = new List<string>(metadata.WriteQuorum);
        var fallback = new List<string>(metadata.WriteQuorum);
        for (int position = 0; position < metadata.WriteQuorum; position++)
        {
            int index = WriteSet.BookieIndex(entryId, position, e);
            string bookie = fragment.Bookies[index];
            if (index == bookieIndex && bookie == target)
            {
                continue; // in-place repair: the target is the one missing it
            }
            (preferredSources.Contains(bookie) ? sources : fallback).Add(bookie);
        }
        sources.AddRange(fallback);
        foreach (string source in sources)
        {
            var read = await bookies.ReadEntryAsync(source, metadata.LedgerId, entryId, false, ReadOnlyMemory<byte>.Empty, ct)
                .ConfigureAwait(false);
            if (read.Status != StatusCode.Ok)
            {
                continue;
            }
            // Digest verified before the copy: a corrupt copy is never propagated (DESIGN §5).
            if (!EntryDigest.Verify(metadata.LedgerId, entryId, read.Lac, read.Payload.Span, read.Digest))
            {
                logger.LogWarning("Entry {LedgerId}:{EntryId} on {Bookie} failed its digest", metadata.LedgerId, entryId, source);
                continue;
            }
            var add = new BookieAddRequest(metadata.LedgerId, entryId, metadata.MasterKey.Memory, read.Lac, read.Digest,
                read.Payload, Recovery: true);
            var answer = new SingleAddAnswer();
            bookies.AddEntry(target, add, answer, null);
            StatusCode status;
            try
            {
                status = await answer.Task.WaitAsync(options.ClientOptions.AddTimeout, ct).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                return CopyOutcome.TargetFailed;
            }
            if (status != StatusCode.Ok)
            {
                logger.LogWarning("Recovery add of {LedgerId}:{EntryId} to {Target} answered {Status}", metadata.LedgerId, entryId, target, status);
                return CopyOutcome.TargetFailed;
            }
            metrics.ReplicatedEntries.Inc();
            return CopyOutcome.Copied;
        }
        return CopyOutcome.Unreadable;
    }

    private enum CopyOutcome { Copied, Unreadable, TargetFailed }

    /// <summary>The answer of one recovery add.</summary>
    private sealed class SingleAddAnswer : IAddCallback
    {
        private readonly TaskCompletionSource<StatusCode> _answer = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public Task<StatusCode> Task => _answer.Task;

        public void AddComplete(StatusCode status, string bookieId, long ledgerId, long entryId, object? context)
            => _answer.TrySetResult(status);
    }
}
