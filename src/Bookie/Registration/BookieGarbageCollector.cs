using Microsoft.Extensions.Logging;
using Pulsarish.Bookie.Storage;
using Pulsarish.Metadata;

namespace Pulsarish.Bookie.Registration;

/// <summary>
/// The metadata side of garbage collection (the half of BookKeeper's GarbageCollectorThread that scans the ledger
/// manager, DESIGN.md §5): decides which ledgers the bookie stores but whose metadata is gone; storage
/// (<see cref="ILedgerStorage.CollectGarbageAsync"/>) then deletes them and reclaims their disk. A ledger created
/// after the metadata listing is never collected: every candidate is re-checked in the store after the bookie's own
/// listing, and ledger ids are never reused, so absence at that point means deletion. Thread-safe; one pass at a time.
/// <para>Disk bound: with <see cref="RunAsync"/> every <c>interval</c>, the entry logs of ledgers deleted in metadata
/// are gone within one interval plus one pass when they hold no live data, and within the storage's minor or major
/// compaction interval when they do (see <c>StorageOptions</c>).</para>
/// </summary>
public sealed class BookieGarbageCollector(ILedgerStorage storage, LedgerMetadataStore ledgers, ILogger logger)
{
    private readonly SemaphoreSlim _pass = new(1, 1);

    /// <summary>Passes completed (diagnostics and tests).</summary>
    public long CompletedPasses => Interlocked.Read(ref _completedPasses);

    private long _completedPasses;

    /// <summary>
    /// Runs a pass every <paramref name="interval"/> until <paramref name="ct"/> is cancelled; a failed pass is logged
    /// and the next one runs on time.
    /// </summary>
    public async Task RunAsync(TimeSpan interval, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
            {
                try
                {
                    await CollectAsync(GcTrigger.Periodic, ct).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    logger.LogWarning(e, "Garbage collection pass failed; the next one runs in {Interval}", interval);
                }
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Stopping.
        }
    }

    /// <summary>One garbage-collection pass; <paramref name="trigger"/> selects the compaction (forced: major now).</summary>
    public async Task<GcResult> CollectAsync(GcTrigger trigger = GcTrigger.Forced, CancellationToken ct = default)
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
            var result = await storage.CollectGarbageAsync(id => !dead.Contains(id), trigger, ct).ConfigureAwait(false);
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
