using Microsoft.Extensions.Logging;
using Pulsarish.Bookie.Storage;
using Pulsarish.Metadata;

namespace Pulsarish.Bookie.Registration;

/// <summary>
/// Garbage collection against the ledger metadata (BookKeeper's GarbageCollectorThread, DESIGN.md §5): ledgers the
/// bookie stores but whose metadata is gone are deleted from storage, then entry logs are compacted. A ledger
/// created after the metadata listing is never collected: every candidate is re-checked in the store after the
/// bookie's own listing, and ledger ids are never reused, so absence at that point means deletion. Thread-safe;
/// one pass at a time.
/// </summary>
public sealed class BookieGarbageCollector(ILedgerStorage storage, LedgerMetadataStore ledgers, ILogger logger)
{
    private readonly SemaphoreSlim _pass = new(1, 1);

    /// <summary>Passes completed (diagnostics and tests).</summary>
    public long CompletedPasses => Interlocked.Read(ref _completedPasses);

    private long _completedPasses;

    /// <summary>One garbage-collection pass.</summary>
    public async Task<GcResult> CollectAsync(CancellationToken ct = default)
    {
        await _pass.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            var listed = new HashSet<long>(await ledgers.ListAsync(ct).ConfigureAwait(false));
            var dead = new HashSet<long>();
            foreach (long ledgerId in storage.ListLedgers())
            {
                if (listed.Contains(ledgerId))
                {
                    continue;
                }
                // Created after the listing (or being created)? Only absence seen after the bookie stored it is deletion.
                if (!await ledgers.Store.ExistsAsync(MetadataPaths.Ledger(ledgerId), ct).ConfigureAwait(false))
                {
                    dead.Add(ledgerId);
                }
            }
            var result = await storage.CollectGarbageAsync(id => !dead.Contains(id), ct).ConfigureAwait(false);
            Interlocked.Increment(ref _completedPasses);
            if (result.LedgersDeleted > 0 || result.EntryLogsCompacted > 0 || result.EntryLogsDeleted > 0)
            {
                logger.LogInformation(
                    "GC: {Ledgers} ledgers deleted, {Compacted} entry logs compacted, {Deleted} deleted, {Bytes} bytes reclaimed",
                    result.LedgersDeleted, result.EntryLogsCompacted, result.EntryLogsDeleted, result.BytesReclaimed);
            }
            return result;
        }
        finally
        {
            _pass.Release();
        }
    }
}
