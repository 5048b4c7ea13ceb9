using System.Globalization;
using System.Text;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pulsarish.Protocol.Errors;
using Pulsarish.Metadata;

namespace Pulsarish.Bookie.AutoRecovery;

/// <summary>
/// Re-replication tasks and their locks (BookKeeper's LedgerUnderreplicationManager, DESIGN.md §6-§7):
/// a task is the persistent record /ledgers/underreplication/ledgers/&lt;ledgerId&gt; listing the lost bookies (one id
/// per line); a worker holds the ephemeral /ledgers/underreplication/locks/&lt;ledgerId&gt; while working on it, so a
/// crashed worker's lock goes with its session. Every update of a task is a compare-and-set. Thread-safe.
/// </summary>
public sealed class UnderReplicationManager
{
    private readonly IMetadataStore _store;
    private readonly ILogger _logger;

    public UnderReplicationManager(IMetadataStore store, ILogger<UnderReplicationManager>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _logger = logger ?? NullLogger<UnderReplicationManager>.Instance;
    }

    public static string TaskPath(long ledgerId) =>
        MetadataPaths.UnderReplicatedLedgers + "/" + ledgerId.ToString(CultureInfo.InvariantCulture);

    public static string LockPath(long ledgerId) =>
        MetadataPaths.UnderReplicationLocks + "/" + ledgerId.ToString(CultureInfo.InvariantCulture);

    /// <summary>
    /// Files (or extends) the task of <paramref name="ledgerId"/> with <paramref name="missingBookies"/>. Returns true
    /// when the task was created or gained a bookie.
    /// </summary>
    public async Task<bool> MarkUnderReplicatedAsync(long ledgerId, IEnumerable<string> missingBookies, CancellationToken ct = default)
    {
        var bookies = new SortedSet<string>(missingBookies, StringComparer.Ordinal);
        if (bookies.Count == 0)
        {
            throw new ArgumentException("no missing bookie given", nameof(missingBookies));
        }
        string path = TaskPath(ledgerId);
        while (true)
        {
            var existing = await GetAsync(ledgerId, ct).ConfigureAwait(false);
            if (existing is null)
            {
                try
                {
                    await _store.PutAsync(path, Encode(bookies), -1, ct).ConfigureAwait(false);
                    _logger.LogInformation("Ledger {LedgerId} under-replicated: lost copies on {Bookies}", ledgerId, string.Join(",", bookies));
                    return true;
                }
                catch (NodeExistsException)
                {
                    continue; // filed concurrently: merge into that one
                }
            }
            if (existing.MissingBookies.IsSupersetOf(bookies))
            {
                return false;
            }
            bookies.UnionWith(existing.MissingBookies);
            try
            {
                await _store.PutAsync(path, Encode(bookies), existing.Version, ct).ConfigureAwait(false);
                _logger.LogInformation("Ledger {LedgerId} under-replicated: lost copies on {Bookies}", ledgerId, string.Join(",", bookies));
                return true;
            }
            catch (Exception e) when (e is BadVersionException or NoNodeException)
            {
                // Changed or completed concurrently: read again.
            }
        }
    }

    /// <summary>Ledger ids with a pending task, ascending. Sets a child watch on the task list.</summary>
    public async Task<IReadOnlyList<long>> ListAsync(CancellationToken ct = default)
    {
        var names = await _store.GetChildrenAsync(MetadataPaths.UnderReplicatedLedgers, ct).ConfigureAwait(false);
        var ids = new List<long>(names.Count);
        foreach (string name in names)
        {
            if (long.TryParse(name, NumberStyles.None, CultureInfo.InvariantCulture, out long id))
            {
                ids.Add(id);
            }
        }
        ids.Sort();
        return ids;
    }

    /// <summary>The task of <paramref name="ledgerId"/>, or null. Throws <see cref="InvalidMetadataException"/> on garbage.</summary>
    public async Task<UnderReplicatedLedger?> GetAsync(long ledgerId, CancellationToken ct = default)
    {
        string path = TaskPath(ledgerId);
        var record = await _store.GetAsync(path, ct).ConfigureAwait(false);
        if (record is null)
        {
            return null;
        }
        var bookies = new HashSet<string>(StringComparer.Ordinal);
        string text;
        try
        {
            text = new UTF8Encoding(false, true).GetString(record.Value);
        }
        catch (DecoderFallbackException e)
        {
            throw new InvalidMetadataException(path, "task is not UTF-8 text", e);
        }
        foreach (string line in text.Split('\n', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            if (line.Contains('/'))
            {
                throw new InvalidMetadataException(path, $"invalid bookie id '{line}'");
            }
            bookies.Add(line);
        }
        return new UnderReplicatedLedger(ledgerId, bookies, record.Stat.Version, record.Stat.CreatedMillis);
    }

    /// <summary>Takes the ephemeral lock of a task; false when another worker holds it.</summary>
    public async Task<bool> TryLockAsync(long ledgerId, string owner, CancellationToken ct = default)
    {
        try
        {
            await _store.CreateAsync(LockPath(ledgerId), Encoding.UTF8.GetBytes(owner), CreateOptions.Ephemeral, ct).ConfigureAwait(false);
            return true;
        }
        catch (NodeExistsException)
        {
            return false;
        }
    }

    /// <summary>Releases a task's lock (no error when already gone).</summary>
    public async Task ReleaseLockAsync(long ledgerId, CancellationToken ct = default)
    {
        try
        {
            await _store.DeleteAsync(LockPath(ledgerId), null, ct).ConfigureAwait(false);
        }
        catch (NoNodeException)
        {
            // Gone with an expired session.
        }
    }

    /// <summary>
    /// Completes a task: deletes it if it is still at <paramref name="version"/>. Returns false when it changed
    /// meanwhile (another bookie was lost: the task stays for another round).
    /// </summary>
    public async Task<bool> MarkReplicatedAsync(long ledgerId, long version, CancellationToken ct = default)
    {
        try
        {
            await _store.DeleteAsync(TaskPath(ledgerId), version, ct).ConfigureAwait(false);
            _logger.LogInformation("Ledger {LedgerId} fully replicated", ledgerId);
            return true;
        }
        catch (NoNodeException)
        {
            return true;
        }
        catch (BadVersionException)
        {
            return false;
        }
    }

    /// <summary>Deletes a task whatever its version (the ledger itself is gone).</summary>
    public async Task DeleteAsync(long ledgerId, CancellationToken ct = default)
    {
        try
        {
            await _store.DeleteAsync(TaskPath(ledgerId), null, ct).ConfigureAwait(false);
        }
        catch (NoNodeException)
        {
            // Already completed.
        }
    }

    private static byte[] Encode(IEnumerable<string> bookies) => Encoding.UTF8.GetBytes(string.Join('\n', bookies));
}
