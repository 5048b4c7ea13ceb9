using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pulsarish.Protocol.Errors;
using Pulsarish.Ledgers;
using Pulsarish.Metadata;

namespace Pulsarish.Bookie.AutoRecovery;

/// <summary>
/// Operator actions of the bookie shell (BookKeeper's <c>bookkeeper shell</c> recover / decommissionbookie /
/// listunderreplicated / ledger check) on a metadata session. Thread-safe.
/// </summary>
public sealed class BookieRecoveryAdmin : IAsyncDisposable
{
    private static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(500);

    private readonly IMetadataStore _store;
    private readonly BookieRegistry _registry;
    private readonly GrpcBookieClient _bookies;
    private readonly ILogger _logger;

    public BookieRecoveryAdmin(IMetadataStore store, ILoggerFactory? loggerFactory = null)
    {
        _store = store;
        loggerFactory ??= NullLoggerFactory.Instance;
        _logger = loggerFactory.CreateLogger<BookieRecoveryAdmin>();
        Ledgers = new LedgerMetadataStore(store);
        Tasks = new UnderReplicationManager(store, loggerFactory.CreateLogger<UnderReplicationManager>());
        _registry = new BookieRegistry(store);
        _bookies = new GrpcBookieClient(new RegistryBookieDirectory(_registry), null, loggerFactory);
    }

    /// <summary>The metadata session (not owned).</summary>
    public IMetadataStore Store => _store;

    public LedgerMetadataStore Ledgers { get; }
    public UnderReplicationManager Tasks { get; }
    public BookieRegistry Registry => _registry;

    /// <summary>Pending tasks with the worker holding each one's lock (null when unlocked).</summary>
    public async Task<IReadOnlyList<(UnderReplicatedLedger Task, string? LockedBy)>> ListUnderReplicatedAsync(CancellationToken ct = default)
    {
        var result = new List<(UnderReplicatedLedger, string?)>();
        foreach (long ledgerId in await Tasks.ListAsync(ct).ConfigureAwait(false))
        {
            var task = await Tasks.GetAsync(ledgerId, ct).ConfigureAwait(false);
            if (task is null)
            {
                continue;
            }
            var lockRecord = await _store.GetAsync(UnderReplicationManager.LockPath(ledgerId), ct).ConfigureAwait(false);
            result.Add((task, lockRecord is null ? null : Encoding.UTF8.GetString(lockRecord.Value)));
        }
        return result;
    }

    /// <summary>Ids of the ledgers with <paramref name="bookieId"/> in some fragment's ensemble.</summary>
    public async Task<IReadOnlyList<long>> LedgersOfBookieAsync(string bookieId, CancellationToken ct = default)
    {
        var result = new List<long>();
        foreach (long ledgerId in await Ledgers.ListAsync(ct).ConfigureAwait(false))
        {
            var read = await Ledgers.ReadAsync(ledgerId, ct).ConfigureAwait(false);
            if (read is null)
            {
                continue;
            }
            foreach (var fragment in read.Value.Metadata.Fragments)
            {
                if (fragment.Bookies.Contains(bookieId))
                {
                    result.Add(ledgerId);
                    break;
                }
            }
        }
        return result;
    }

    /// <summary>Files a re-replication task for every ledger of <paramref name="bookieId"/>; returns their ids.</summary>
    public async Task<IReadOnlyList<long>> RecoverBookieAsync(string bookieId, CancellationToken ct = default)
    {
        var ledgers = await LedgersOfBookieAsync(bookieId, ct).ConfigureAwait(false);
        foreach (long ledgerId in ledgers)
        {
            await Tasks.MarkUnderReplicatedAsync(ledgerId, [bookieId], ct).ConfigureAwait(false);
        }
        _logger.LogInformation("Filed {Count} ledgers of bookie {BookieId} for re-replication", ledgers.Count, bookieId);
        return ledgers;
    }

    /// <summary>Waits until no ledger references <paramref name="bookieId"/>; throws <see cref="TimeoutException"/>.</summary>
    public async Task WaitUntilUnreferencedAsync(string bookieId, TimeSpan timeout, CancellationToken ct = default)
    {
        var deadline = DateTime.UtcNow + timeout;
        while (true)
        {
            var left = await LedgersOfBookieAsync(bookieId, ct).ConfigureAwait(false);
            if (left.Count == 0)
            {
                return;
            }
            if (DateTime.UtcNow >= deadline)
            {
                throw new TimeoutException($"ledgers still on bookie {bookieId} after {timeout}: {string.Join(",", left)}");
            }
            await Task.Delay(PollInterval, ct).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Decommissions a bookie: files all its ledgers, waits until none references it (some AutoRecovery worker does
    /// the copying), deletes its cookie and leaves a tombstone so the id cannot join again.
    /// </summary>
    public async Task DecommissionAsync(string bookieId, TimeSpan timeout, CancellationToken ct = default)
    {
        await RecoverBookieAsync(bookieId, ct).ConfigureAwait(false);
        await WaitUntilUnreferencedAsync(bookieId, timeout, ct).ConfigureAwait(false);
        await _store.PutAsync(AutoRecoveryPaths.DecommissionedBookie(bookieId),
            Encoding.UTF8.GetBytes(DateTimeOffset.UtcNow.ToString("O")), null, ct).ConfigureAwait(false);
        try
        {
            await _store.DeleteAsync(MetadataPaths.Cookie(bookieId), null, ct).ConfigureAwait(false);
        }
        catch (NoNodeException)
        {
            // No cookie registered.
        }
        _logger.LogInformation("Bookie {BookieId} decommissioned", bookieId);
    }

    /// <summary>Checks every entry of a ledger on every bookie of its ended fragments.</summary>
    public async Task<IReadOnlyList<MissingEntries>> CheckLedgerAsync(long ledgerId, CancellationToken ct = default)
    {
        var read = await Ledgers.ReadAsync(ledgerId, ct).ConfigureAwait(false) ?? throw new NoSuchLedgerException(ledgerId);
        var available = new HashSet<string>(StringComparer.Ordinal);
        foreach (var info in await _registry.GetAvailableAsync(ct).ConfigureAwait(false))
        {
            available.Add(info.BookieId);
        }
        return await new LedgerChecker(_bookies).CheckAsync(read.Metadata, available, everyEntry: true, ct).ConfigureAwait(false);
    }

    public async ValueTask DisposeAsync()
    {
        await _bookies.DisposeAsync().ConfigureAwait(false);
        await _registry.DisposeAsync().ConfigureAwait(false);
    }
}
