using Microsoft.Extensions.Logging;
using Pulsarish.Metadata;
using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Bookie.AutoRecovery;

/// <summary>
/// The elected auditor's work (BookKeeper's Auditor, DESIGN.md §7): watches /ledgers/available; a bookie referenced by
/// ledger metadata that has been unregistered for longer than <see cref="AutoRecoveryOptions.LostBookieRecoveryDelay"/>
/// is lost, and one task per ledger it appears in is filed. Every
/// <see cref="AutoRecoveryOptions.PeriodicCheckInterval"/> a full check asks every bookie of every ended fragment for
/// its entries and files a task for each bookie found missing some. Runs until its token is cancelled.
/// </summary>
public sealed class Auditor(
    LedgerMetadataStore ledgers, BookieRegistry registry, UnderReplicationManager tasks, LedgerChecker checker,
    AutoRecoveryOptions options, AutoRecoveryMetrics metrics, ILogger<Auditor> logger)
{
    private const int MetadataReadConcurrency = 16;

    /// <summary>Full checks completed since start (diagnostics and tests).</summary>
    public long CompletedChecks => Interlocked.Read(ref _completedChecks);

    /// <summary>Bookies currently seen missing (diagnostics and tests).</summary>
    public IReadOnlyCollection<string> MissingBookies
    {
        get
        {
            lock (_missingSince)
            {
                return _missingSince.Keys.ToArray();
            }
        }
    }

    private readonly Dictionary<string, DateTime> _missingSince = new(StringComparer.Ordinal);
    private long _completedChecks;

    public async Task RunAsync(CancellationToken ct)
    {
        using var wake = new SemaphoreSlim(0, 1);
        void Wake()
        {
            try
            {
                if (wake.CurrentCount == 0)
                {
                    wake.Release();
                }
            }
            catch (Exception e) when (e is SemaphoreFullException or ObjectDisposedException)
            {
                // Signalled already, or stopping.
            }
        }
        metrics.IsAuditor.Set(1);
        var filed = new HashSet<string>(StringComparer.Ordinal);
        HashSet<string>? lastAvailable = null;
        // The full check runs beside the lost-bookie loop, so a long check never delays filing a lost bookie.
        var periodicCheck = options.PeriodicCheckInterval is { } interval ? PeriodicCheckLoopAsync(interval, ct) : Task.CompletedTask;
        try
        {
            using var watch = registry.WatchAvailable(Wake);
            while (!ct.IsCancellationRequested)
            {
                try
                {
                    var available = await AvailableIdsAsync(ct).ConfigureAwait(false);
                    if (lastAvailable is null || !available.SetEquals(lastAvailable))
                    {
                        await UpdateMissingAsync(available, lastAvailable, filed, ct).ConfigureAwait(false);
                        lastAvailable = available;
                    }
                    await FileLostBookiesAsync(filed, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException) when (ct.IsCancellationRequested)
                {
                    break;
                }
                catch (Exception e)
                {
                    logger.LogWarning(e, "Audit round failed");
                    lastAvailable = null;
                }
                try
                {
                    await wake.WaitAsync(options.AuditTick, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
        finally
        {
            metrics.IsAuditor.Set(0);
            await periodicCheck.ConfigureAwait(false);
        }
    }

    private async Task PeriodicCheckLoopAsync(TimeSpan interval, CancellationToken ct)
    {
        using var timer = new PeriodicTimer(interval);
        try
        {
            while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
            {
                try
                {
                    await CheckAllLedgersAsync(ct).ConfigureAwait(false);
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    logger.LogWarning(e, "Periodic ledger check failed");
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Leadership ended.
        }
    }

    /// <summary>
    /// Bookies that left since the last look, and (on the first look) bookies referenced by ledgers but not
    /// registered, start their lost-bookie delay now; bookies back within it are forgotten.
    /// </summary>
    private async Task UpdateMissingAsync(HashSet<string> available, HashSet<string>? lastAvailable, HashSet<string> filed,
        CancellationToken ct)
    {
        var now = DateTime.UtcNow;
        var gone = new HashSet<string>(StringComparer.Ordinal);
        if (lastAvailable is null)
        {
            await ForEachLedgerAsync(m =>
            {
                lock (gone)
                {
                    foreach (var fragment in m.Fragments)
                    {
                        gone.UnionWith(fragment.Bookies);
                    }
                }
            }, ct).ConfigureAwait(false);
        }
        else
        {
            gone.UnionWith(lastAvailable);
        }
        gone.ExceptWith(available);
        lock (_missingSince)
        {
            foreach (string bookie in gone)
            {
                if (_missingSince.TryAdd(bookie, now))
                {
                    logger.LogInformation("Bookie {BookieId} is not registered; lost after {Delay} unless it returns",
                        bookie, options.LostBookieRecoveryDelay);
                }
            }
            foreach (string bookie in _missingSince.Keys.ToArray())
            {
                if (available.Contains(bookie))
                {
                    _missingSince.Remove(bookie);
                    filed.Remove(bookie);
                    logger.LogInformation("Bookie {BookieId} is back", bookie);
                }
            }
        }
    }

    /// <summary>Files a task for every ledger of each bookie whose lost-bookie delay has passed.</summary>
    private async Task FileLostBookiesAsync(HashSet<string> filed, CancellationToken ct)
    {
        var lost = new HashSet<string>(StringComparer.Ordinal);
        var now = DateTime.UtcNow;
        lock (_missingSince)
        {
            foreach (var (bookie, since) in _missingSince)
            {
                if (!filed.Contains(bookie) && now - since >= options.LostBookieRecoveryDelay)
                {
                    lost.Add(bookie);
                }
            }
        }
        if (lost.Count == 0)
        {
            return;
        }
        // Re-read availability: a bookie back at the last moment is not lost.
        lost.ExceptWith(await AvailableIdsAsync(ct).ConfigureAwait(false));
        if (lost.Count == 0)
        {
            return;
        }
        logger.LogWarning("Bookies {Bookies} lost: filing their ledgers for re-replication", string.Join(",", lost));
        var toFile = new List<(long LedgerId, List<string> Bookies)>();
        await ForEachLedgerAsync(m =>
        {
            var inLedger = new List<string>();
            foreach (var fragment in m.Fragments)
            {
                foreach (string bookie in fragment.Bookies)
                {
                    if (lost.Contains(bookie) && !inLedger.Contains(bookie))
                    {
                        inLedger.Add(bookie);
                    }
                }
            }
            if (inLedger.Count > 0)
            {
                lock (toFile)
                {
                    toFile.Add((m.LedgerId, inLedger));
                }
            }
        }, ct).ConfigureAwait(false);
        foreach (var (ledgerId, bookies) in toFile)
        {
            if (await tasks.MarkUnderReplicatedAsync(ledgerId, bookies, ct).ConfigureAwait(false))
            {
                metrics.TasksFiled.Inc();
            }
        }
        filed.UnionWith(lost);
    }

    /// <summary>The periodic full check: a task for every registered bookie found missing entries it should hold.</summary>
    public async Task CheckAllLedgersAsync(CancellationToken ct)
    {
        var available = await AvailableIdsAsync(ct).ConfigureAwait(false);
        var lostNow = new HashSet<string>(StringComparer.Ordinal);
        var now = DateTime.UtcNow;
        lock (_missingSince)
        {
            foreach (var (bookie, since) in _missingSince)
            {
                if (now - since >= options.LostBookieRecoveryDelay)
                {
                    lostNow.Add(bookie);
                }
            }
        }
        var found = new List<(long LedgerId, string Bookie)>();
        await ForEachLedgerAsync(async m =>
        {
            foreach (var problem in await checker.CheckAsync(m, available, options.CheckEveryEntry, ct).ConfigureAwait(false))
            {
                // Unregistered bookies count once their lost-bookie delay passed; unanswered ones are unknown.
                if ((problem.Unavailable ? lostNow.Contains(problem.BookieId) : !problem.Unknown) && problem.Missing.Count > 0)
                {
                    lock (found)
                    {
                        found.Add((m.LedgerId, problem.BookieId));
                    }
                }
            }
        }, ct).ConfigureAwait(false);
        foreach (var (ledgerId, bookie) in found)
        {
            logger.LogWarning("Check: bookie {BookieId} misses entries of ledger {LedgerId}", bookie, ledgerId);
            if (await tasks.MarkUnderReplicatedAsync(ledgerId, [bookie], ct).ConfigureAwait(false))
            {
                metrics.TasksFiled.Inc();
            }
        }
        Interlocked.Increment(ref _completedChecks);
    }

    private async Task<HashSet<string>> AvailableIdsAsync(CancellationToken ct)
    {
        var set = new HashSet<string>(StringComparer.Ordinal);
        foreach (var info in await registry.GetAvailableAsync(ct).ConfigureAwait(false))
        {
            set.Add(info.BookieId);
        }
        return set;
    }

    private Task ForEachLedgerAsync(Action<LedgerMetadata> visit, CancellationToken ct) =>
        ForEachLedgerAsync(m =>
        {
            visit(m);
            return Task.CompletedTask;
        }, ct);

    private async Task ForEachLedgerAsync(Func<LedgerMetadata, Task> visit, CancellationToken ct)
    {
        var ids = await ledgers.ListAsync(ct).ConfigureAwait(false);
        await Parallel.ForEachAsync(ids, new ParallelOptions { MaxDegreeOfParallelism = MetadataReadConcurrency, CancellationToken = ct },
            async (id, token) =>
            {
                var read = await ledgers.ReadAsync(id, token).ConfigureAwait(false);
                if (read is not null)
                {
                    await visit(read.Value.Metadata).ConfigureAwait(false);
                }
            }).ConfigureAwait(false);
    }
}
