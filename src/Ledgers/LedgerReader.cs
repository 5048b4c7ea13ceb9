using Pulsarish.Protocol.Checksums;
using Pulsarish.Protocol.Errors;
using Pulsarish.Protocol.Bookie;
using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Ledgers;

/// <summary>
/// Reads entries for every kind of handle (DESIGN.md §3.6): one bookie of the entry's write set at a time, the next
/// one on an error, a digest mismatch, or when the speculative-read timeout passes. Range reads keep up to
/// <see cref="LedgerClientOptions.MaxOutstandingReads"/> entries in flight and return them in order. Thread-safe.
/// </summary>
internal sealed class LedgerReader(IBookieClient bookies, LedgerClientOptions options)
{
    /// <summary>
    /// Entries <paramref name="firstEntryId"/>..<paramref name="lastEntryId"/> in order; refuses ids beyond
    /// <paramref name="lastReadableEntryId"/> with <see cref="ReadBeyondLastEntryException"/>.
    /// </summary>
    public async Task<IReadOnlyList<LedgerEntry>> ReadAsync(LedgerMetadata metadata, long firstEntryId, long lastEntryId,
        long lastReadableEntryId, CancellationToken ct)
    {
        if (firstEntryId < 0 || lastEntryId < firstEntryId)
        {
            throw new ArgumentException($"bad entry range {firstEntryId}..{lastEntryId}");
        }
        if (lastEntryId > lastReadableEntryId)
        {
            throw new ReadBeyondLastEntryException(metadata.LedgerId, lastEntryId, lastReadableEntryId);
        }
        long count = lastEntryId - firstEntryId + 1;
        var entries = new LedgerEntry[count];
        var inFlight = new Queue<Task<LedgerEntry>>(Math.Min(options.MaxOutstandingReads, (int)Math.Min(count, int.MaxValue)));
        int done = 0;
        for (long entryId = firstEntryId; entryId <= lastEntryId; entryId++)
        {
            if (inFlight.Count == options.MaxOutstandingReads)
            {
                entries[done++] = await inFlight.Dequeue().ConfigureAwait(false);
            }
            inFlight.Enqueue(ReadEntryAsync(metadata, entryId, ct));
        }
        while (inFlight.Count > 0)
        {
            entries[done++] = await inFlight.Dequeue().ConfigureAwait(false);
        }
        return entries;
    }

    /// <summary>The stored form (header + payload) of one entry, verified.</summary>
    public async Task<ReadOnlyMemory<byte>> ReadStoredAsync(LedgerMetadata metadata, long entryId, CancellationToken ct)
    {
        var fragment = FragmentOf(metadata, entryId);
        int writeQuorum = metadata.WriteQuorum;
        int ensembleSize = metadata.EnsembleSize;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var active = new List<Task<BookieReadResult>>(writeQuorum);
        var targets = new Dictionary<Task<BookieReadResult>, string>(writeQuorum);
        int next = 0;
        int absent = 0;
        int corrupt = 0;
        string lastProblem = "no bookie answered";
        void Launch()
        {
            string bookieId = fragment.Bookies[WriteSet.BookieIndex(entryId, next++, ensembleSize)];
            var task = bookies.ReadEntryAsync(bookieId, metadata.LedgerId, entryId, false, ReadOnlyMemory<byte>.Empty, cts.Token);
            active.Add(task);
            targets[task] = bookieId;
        }
        Launch();
        try
        {
            while (active.Count > 0)
            {
                Task finished;
                if (next < writeQuorum)
                {
                    var speculative = Task.Delay(options.SpeculativeReadTimeout, cts.Token);
                    var waitOn = new List<Task>(active) { speculative };
                    finished = await Task.WhenAny(waitOn).ConfigureAwait(false);
                    if (finished == speculative)
                    {
                        LedgerMetrics.SpeculativeReads.Inc();
                        Launch();
                        continue;
                    }
                }
                else
                {
                    finished = await Task.WhenAny(active).ConfigureAwait(false);
                }
                var task = (Task<BookieReadResult>)finished;
                active.Remove(task);
                var result = await task.ConfigureAwait(false);
                if (result.Status == StatusCode.Ok)
                {
                    // Digests verified by readers — DESIGN §5; a mismatch moves on to the next bookie.
                    if (!options.VerifyDigestOnRead
                        || EntryDigest.Verify(metadata.LedgerId, entryId, result.Lac, result.Payload.Span, result.Digest))
                    {
                        LedgerMetrics.Reads.Inc();
                        return result.Payload;
                    }
                    corrupt++;
                    lastProblem = $"digest mismatch from {targets[task]}";
                }
                else if (result.Status is StatusCode.NoSuchEntry or StatusCode.NoSuchLedger)
                {
                    absent++;
                    lastProblem = $"{result.Status} from {targets[task]}";
                }
                else
                {
                    if (result.Status == StatusCode.Corrupt)
                    {
                        corrupt++;
                    }
                    lastProblem = $"{result.Status} from {targets[task]}";
                }
                if (next < writeQuorum)
                {
                    LedgerMetrics.SpeculativeReads.Inc();
                    Launch();
                }
            }
        }
        finally
        {
            cts.Cancel();
        }
        ct.ThrowIfCancellationRequested();
        if (absent == writeQuorum)
        {
            throw new NoSuchEntryException(metadata.LedgerId, entryId);
        }
        if (corrupt > 0 && corrupt + absent == writeQuorum)
        {
            throw new CorruptDataException($"entry {metadata.LedgerId}:{entryId}: {lastProblem}");
        }
        throw new LedgerReadException(metadata.LedgerId, entryId, lastProblem);
    }

    public async Task<LedgerEntry> ReadEntryAsync(LedgerMetadata metadata, long entryId, CancellationToken ct)
    {
        var stored = await ReadStoredAsync(metadata, entryId, ct).ConfigureAwait(false);
        return new LedgerEntry(metadata.LedgerId, entryId, LedgerEntryFormat.Payload(stored));
    }

    /// <summary>The fragment an entry belongs to: the last one starting at or before it.</summary>
    public static Fragment FragmentOf(LedgerMetadata metadata, long entryId)
    {
        var fragments = metadata.Fragments;
        for (int i = fragments.Count - 1; i >= 0; i--)
        {
            if (fragments[i].FirstEntryId <= entryId)
            {
                return fragments[i];
            }
        }
        throw new CorruptDataException($"ledger {metadata.LedgerId} has no fragment for entry {entryId}");
    }
}
