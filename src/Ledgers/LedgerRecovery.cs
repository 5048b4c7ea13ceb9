using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Pulsarish.Protocol.Checksums;
using Pulsarish.Protocol.Errors;
using Pulsarish.Protocol.Bookie;
using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Ledgers;

/// <summary>
/// Open-with-recovery (DESIGN.md §4, BookKeeper's LedgerRecoveryOp): OPEN → IN_RECOVERY by CAS, fence-and-read-LAC
/// on the last fragment until every write set is covered, read forward from the highest LAC rewriting each entry
/// some bookie has to its full write set, stop at the first entry proven absent, CAS to CLOSED. Racing recoverers
/// converge on one CLOSED record: the loser of the final CAS adopts the winner's.
/// </summary>
internal sealed class LedgerRecovery(LedgerClient client, ILogger logger)
{
    public async Task<ReadOnlyLedgerHandle> RecoverAsync(long ledgerId, CancellationToken ct)
    {
        // 1. CAS OPEN → IN_RECOVERY (already IN_RECOVERY: proceed; CLOSED: nothing to recover).
        VersionedLedgerMetadata current;
        while (true)
        {
            current = await client.Ledgers.ReadAsync(ledgerId, ct).ConfigureAwait(false)
                ?? throw new NoSuchLedgerException(ledgerId);
            if (current.Metadata.State == LedgerState.Closed)
            {
                return new ReadOnlyLedgerHandle(client, current.Metadata, current.Metadata.LastEntryId);
            }
            if (current.Metadata.State == LedgerState.InRecovery)
            {
                break;
            }
            var inRecovery = current.Metadata.Clone();
            inRecovery.State = LedgerState.InRecovery;
            try
            {
                long version = await client.Ledgers.UpdateAsync(inRecovery, current.Version, ct).ConfigureAwait(false);
                current = new VersionedLedgerMetadata(inRecovery, version);
                break;
            }
            catch (BadVersionException)
            {
                // The writer changed its ensemble or another recoverer got there first: re-read.
            }
        }
        var metadata = current.Metadata;
        ValidateMetadata(metadata);

        // 2. Fence the last fragment; covered once Qw−Qa+1 of every write set answered — DESIGN §4.2.
        long maxLac = await ReadLastConfirmedOp.RunAsync(client.Bookies, metadata, fence: true, ct).ConfigureAwait(false);

        // Entries before the last fragment were complete when it was written (it starts at the writer's LAC+1).
        var lastFragment = metadata.Fragments[^1];
        long firstToRead = Math.Max(maxLac + 1, lastFragment.FirstEntryId);
        Debug.Assert(maxLac >= -1 && firstToRead > maxLac, "recovery starts above the highest reported LAC");
        long length = -1; // the ledger length recorded in the last entry seen; unknown until one is read

        // 3. Read forward; recover what some bookie has; stop at the first entry proven absent — DESIGN §4.3.
        long entryId = firstToRead;
        var rewrites = new Queue<Task>();
        try
        {
            while (true)
            {
                var stored = await RecoveryReadAsync(metadata, entryId, ct).ConfigureAwait(false);
                if (stored is null)
                {
                    break;
                }
                long entryLength = LedgerEntryFormat.ReadLedgerLength(stored.Value.Span);
                if (entryLength < Math.Max(length, 0))
                {
                    throw new CorruptDataException($"entry {ledgerId}:{entryId} records length {entryLength} < {length}");
                }
                length = entryLength;
                if (rewrites.Count == client.Options.MaxOutstandingReads)
                {
                    await rewrites.Dequeue().ConfigureAwait(false);
                }
                // Recovery adds only rewrite entries above the highest reported LAC — DESIGN §4.3.
                Debug.Assert(entryId >= maxLac + 1, "recovery rewrites only entries at or above LAC+1");
                rewrites.Enqueue(RecoveryAddAsync(metadata, entryId, entryId - 1, stored.Value, ct));
                entryId++;
            }
            while (rewrites.Count > 0)
            {
                await rewrites.Dequeue().ConfigureAwait(false);
            }
        }
        finally
        {
            // Observe the remaining rewrites so none is left unobserved when one failed.
            foreach (var rewrite in rewrites)
            {
                _ = rewrite.ContinueWith(static t => _ = t.Exception, TaskScheduler.Default);
            }
        }
        long lastEntryId = entryId - 1;
        LedgerMetrics.RecoveredEntries.Inc(entryId - firstToRead);
        if (length < 0)
        {
            // Nothing past the LAC: the length is the one the last complete entry records.
            length = 0;
            if (lastEntryId >= 0)
            {
                var last = await client.Reader.ReadStoredAsync(metadata, lastEntryId, ct).ConfigureAwait(false);
                length = LedgerEntryFormat.ReadLedgerLength(last.Span);
            }
        }

        // A recovered ledger never closes below a LAC some bookie reported: those entries are acknowledged — DESIGN §4.
        if (lastEntryId < maxLac)
        {
            throw new LedgerRecoveryException(ledgerId, $"would close at {lastEntryId}, below the reported LAC {maxLac}");
        }

        // 4. CAS to CLOSED with the last recovered entry — DESIGN §4.4.
        try
        {
            var closed = await client.Ledgers.CloseAsync(ledgerId, lastEntryId, length, current.Version,
                LedgerState.InRecovery, ct).ConfigureAwait(false);
            LedgerMetrics.Recoveries.Inc();
            logger.LogInformation(
                "Recovered ledger {LedgerId}: fenced at LAC {Lac}, {Recovered} entries rewritten, closed at {LastEntryId}",
                ledgerId, maxLac, entryId - firstToRead, lastEntryId);
            return new ReadOnlyLedgerHandle(client, closed.Metadata, lastEntryId);
        }
        catch (LedgerFencedException)
        {
            // Another recoverer closed it first (at another last entry): its record is the ledger's content.
            current = await client.Ledgers.ReadAsync(ledgerId, ct).ConfigureAwait(false)
                ?? throw new NoSuchLedgerException(ledgerId);
            if (current.Metadata.State != LedgerState.Closed)
            {
                throw;
            }
            logger.LogInformation("Ledger {LedgerId} was closed by another recoverer at {LastEntryId}",
                ledgerId, current.Metadata.LastEntryId);
            return new ReadOnlyLedgerHandle(client, current.Metadata, current.Metadata.LastEntryId);
        }
    }

    private static void ValidateMetadata(LedgerMetadata metadata)
    {
        // Metadata crosses a trust boundary (read from the store).
        if (metadata.AckQuorum < 1 || metadata.WriteQuorum < metadata.AckQuorum || metadata.EnsembleSize < metadata.WriteQuorum
            || metadata.EnsembleSize > 64 || metadata.Fragments.Count == 0)
        {
            throw new CorruptDataException($"ledger {metadata.LedgerId} has invalid metadata");
        }
        foreach (var fragment in metadata.Fragments)
        {
            if (fragment.Bookies.Count != metadata.EnsembleSize)
            {
                throw new CorruptDataException($"ledger {metadata.LedgerId} has a fragment of {fragment.Bookies.Count} bookies");
            }
        }
    }

    /// <summary>
    /// Reads an entry from its whole write set (fencing each bookie on the way): its stored bytes when some bookie has
    /// it, null when Qw−Qa+1 bookies report it absent. Throws <see cref="LedgerRecoveryException"/> when neither.
    /// </summary>
    private async Task<ReadOnlyMemory<byte>?> RecoveryReadAsync(LedgerMetadata metadata, long entryId, CancellationToken ct)
    {
        var fragment = LedgerReader.FragmentOf(metadata, entryId);
        int writeQuorum = metadata.WriteQuorum;
        int absentNeeded = writeQuorum - metadata.AckQuorum + 1;
        Debug.Assert(absentNeeded >= 1 && absentNeeded <= writeQuorum, "absent needs Qw−Qa+1 of the write set");
        var masterKey = metadata.MasterKey.Memory;
        using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
        var tasks = new List<Task<BookieReadResult>>(writeQuorum);
        for (int position = 0; position < writeQuorum; position++)
        {
            string bookieId = fragment.Bookies[WriteSet.BookieIndex(entryId, position, metadata.EnsembleSize)];
            tasks.Add(client.Bookies.ReadEntryAsync(bookieId, metadata.LedgerId, entryId, true, masterKey, cts.Token));
        }
        int absent = 0;
        string problems = "";
        try
        {
            while (tasks.Count > 0)
            {
                var finished = await Task.WhenAny(tasks).ConfigureAwait(false);
                tasks.Remove(finished);
                var result = await finished.ConfigureAwait(false);
                if (result.Status == StatusCode.Ok)
                {
                    if (EntryDigest.Verify(metadata.LedgerId, entryId, result.Lac, result.Payload.Span, result.Digest))
                    {
                        return result.Payload;
                    }
                    problems += " digest mismatch";
                }
                else if (result.Status is StatusCode.NoSuchEntry or StatusCode.NoSuchLedger)
                {
                    // Absent on Qw−Qa+1 of its write set: it cannot have been acknowledged — DESIGN §4.3.
                    if (++absent >= absentNeeded)
                    {
                        return null;
                    }
                }
                else
                {
                    problems += " " + result.Status;
                }
            }
        }
        finally
        {
            cts.Cancel();
        }
        ct.ThrowIfCancellationRequested();
        throw new LedgerRecoveryException(metadata.LedgerId,
            $"entry {entryId} neither readable nor proven absent ({absent} absent,{problems})");
    }

    /// <summary>
    /// Recovery add of an entry to its full write set; succeeds when every bookie answered (or the add timeout
    /// passed) and at least Qa of them stored it.
    /// </summary>
    private async Task RecoveryAddAsync(LedgerMetadata metadata, long entryId, long lac, ReadOnlyMemory<byte> stored,
        CancellationToken ct)
    {
        var fragment = LedgerReader.FragmentOf(metadata, entryId);
        int writeQuorum = metadata.WriteQuorum;
        var collector = new AddAnswers(writeQuorum, metadata.AckQuorum);
        var request = new BookieAddRequest(metadata.LedgerId, entryId, metadata.MasterKey.Memory, lac,
            EntryDigest.Compute(metadata.LedgerId, entryId, lac, stored.Span), stored, Recovery: true);
        for (int position = 0; position < writeQuorum; position++)
        {
            string bookieId = fragment.Bookies[WriteSet.BookieIndex(entryId, position, metadata.EnsembleSize)];
            client.Bookies.AddEntry(bookieId, request, collector, null);
        }
        try
        {
            // Qa acks within the add timeout make the entry durable; the rest of the write set then gets a short
            // grace (the speculative-read timeout) so that one hung bookie does not stall recovery.
            await collector.QuorumReached.WaitAsync(client.Options.AddTimeout, ct).ConfigureAwait(false);
            await collector.AllAnswered.WaitAsync(client.Options.SpeculativeReadTimeout, ct).ConfigureAwait(false);
        }
        catch (TimeoutException)
        {
        }
        int acks = collector.Acks;
        if (acks < metadata.AckQuorum)
        {
            throw new LedgerRecoveryException(metadata.LedgerId,
                $"recovery add of entry {entryId} reached {acks} of {metadata.AckQuorum} bookies ({collector.Problems})");
        }
    }

    /// <summary>Collects the answers of one recovery add.</summary>
    private sealed class AddAnswers(int expected, int ackQuorum) : IAddCallback
    {
        private readonly TaskCompletionSource _all = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private readonly TaskCompletionSource _quorumOrAll = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _answers;
        private int _acks;
        private string _problems = "";

        public Task AllAnswered => _all.Task;
        /// <summary>Completes at Qa acks, or when every bookie answered (whatever the outcome).</summary>
        public Task QuorumReached => _quorumOrAll.Task;
        public int Acks => Volatile.Read(ref _acks);
        public string Problems { get { lock (_all) { return _problems; } } }

        public void AddComplete(StatusCode status, string bookieId, long ledgerId, long entryId, object? context)
        {
            if (status == StatusCode.Ok)
            {
                if (Interlocked.Increment(ref _acks) == ackQuorum)
                {
                    _quorumOrAll.TrySetResult();
                }
            }
            else
            {
                lock (_all)
                {
                    _problems += $" {bookieId}={status}";
                }
            }
            if (Interlocked.Increment(ref _answers) == expected)
            {
                _all.TrySetResult();
                _quorumOrAll.TrySetResult();
            }
        }
    }
}
