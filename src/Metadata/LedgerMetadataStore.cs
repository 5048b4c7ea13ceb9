using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pulsarish.Protocol.Errors;
using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Metadata;

/// <summary>
/// Ledger metadata records at /ledgers/L&lt;ledgerId&gt; (DESIGN.md §6), every update a versioned compare-and-set
/// (DESIGN.md §3.5, §4). Metadata is validated by <see cref="LedgerMetadataValidator"/> on the way in and out.
/// Thread-safe.
/// </summary>
public sealed class LedgerMetadataStore
{
    private readonly ILogger _logger;

    public LedgerMetadataStore(IMetadataStore store, LedgerIdGenerator? idGenerator = null, ILogger<LedgerMetadataStore>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        Store = store;
        IdGenerator = idGenerator ?? new LedgerIdGenerator(store);
        _logger = logger ?? NullLogger<LedgerMetadataStore>.Instance;
    }

    /// <summary>The underlying store.</summary>
    public IMetadataStore Store { get; }

    public LedgerIdGenerator IdGenerator { get; }

    /// <summary>
    /// Allocates a fresh ledger id, sets <c>m.LedgerId</c> and creates the record (must not exist). Returns the
    /// metadata and its version (0).
    /// </summary>
    public async Task<(LedgerMetadata Metadata, long Version)> CreateAsync(LedgerMetadata m, CancellationToken ct = default)
        => await CreateAsync(m, 0, ct).ConfigureAwait(false);

    /// <summary>Stores new metadata under a fresh ledger id above <paramref name="idAboveExclusive"/> (see <see cref="LedgerIdGenerator.NextAsync"/>).</summary>
    public async Task<(LedgerMetadata Metadata, long Version)> CreateAsync(LedgerMetadata m, long idAboveExclusive, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(m);
        m.LedgerId = await IdGenerator.NextAsync(idAboveExclusive, ct).ConfigureAwait(false);
        string path = MetadataPaths.Ledger(m.LedgerId);
        LedgerMetadataValidator.Validate(m, path);
        var stat = await Store.PutAsync(path, m.ToByteArray(), -1, ct).ConfigureAwait(false);
        _logger.LogDebug("Created ledger {LedgerId} (E={Ensemble}, Qw={WriteQuorum}, Qa={AckQuorum})",
            m.LedgerId, m.EnsembleSize, m.WriteQuorum, m.AckQuorum);
        return (m, stat.Version);
    }

    /// <summary>The metadata and its version, or null when the ledger does not exist. Throws <see cref="InvalidMetadataException"/> on garbage.</summary>
    public async Task<(LedgerMetadata Metadata, long Version)?> ReadAsync(long ledgerId, CancellationToken ct = default)
    {
        string path = MetadataPaths.Ledger(ledgerId);
        var result = await Store.GetAsync(path, ct).ConfigureAwait(false);
        if (result is null)
        {
            return null;
        }
        LedgerMetadata m;
        try
        {
            m = LedgerMetadata.Parser.ParseFrom(result.Value);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidMetadataException(path, "not a LedgerMetadata record", e);
        }
        if (m.LedgerId != ledgerId)
        {
            throw new InvalidMetadataException(path, $"record names ledger {m.LedgerId}");
        }
        LedgerMetadataValidator.Validate(m, path);
        return (m, result.Stat.Version);
    }

    /// <summary>
    /// Compare-and-set: writes <paramref name="m"/> if the stored version is <paramref name="expectedVersion"/>, and
    /// returns the new version. Throws <see cref="BadVersionException"/> when another writer got there first and
    /// <see cref="NoSuchLedgerException"/> when the ledger is gone.
    /// </summary>
    public async Task<long> UpdateAsync(LedgerMetadata m, long expectedVersion, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(m);
        ArgumentOutOfRangeException.ThrowIfNegative(expectedVersion);
        string path = MetadataPaths.Ledger(m.LedgerId);
        LedgerMetadataValidator.Validate(m, path);
        try
        {
            var stat = await Store.PutAsync(path, m.ToByteArray(), expectedVersion, ct).ConfigureAwait(false);
            return stat.Version;
        }
        catch (NoNodeException)
        {
            throw new NoSuchLedgerException(m.LedgerId);
        }
    }

    /// <summary>
    /// Closes a ledger (DESIGN §3, §4.4): compare-and-set of the record to CLOSED with <paramref name="lastEntryId"/>
    /// and <paramref name="length"/>, from <paramref name="closingFrom"/> (OPEN for its writer, IN_RECOVERY for a
    /// recoverer) as last seen at <paramref name="expectedVersion"/>. The record is read first and on a version
    /// conflict re-read: CLOSED at the
    /// same last entry is success (a retried or racing close of the same content); CLOSED elsewhere, or a state other
    /// than <paramref name="closingFrom"/> (a writer finding IN_RECOVERY), means the caller was fenced and throws
    /// <see cref="LedgerFencedException"/>; the same state at a newer version (an ensemble change) is closed from the
    /// fresh record. Returns the closed record and its version. Throws <see cref="NoSuchLedgerException"/> when gone.
    /// </summary>
    public async Task<(LedgerMetadata Metadata, long Version)> CloseAsync(long ledgerId, long lastEntryId, long length,
        long expectedVersion, LedgerState closingFrom = LedgerState.Open, CancellationToken ct = default)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(lastEntryId, -1);
        ArgumentOutOfRangeException.ThrowIfNegative(length);
        if (closingFrom == LedgerState.Closed)
        {
            throw new ArgumentOutOfRangeException(nameof(closingFrom), "a ledger closes from OPEN or IN_RECOVERY");
        }
        while (true)
        {
            var current = await ReadAsync(ledgerId, ct).ConfigureAwait(false) ?? throw new NoSuchLedgerException(ledgerId);
            var metadata = current.Metadata;
            if (metadata.State == LedgerState.Closed)
            {
                if (metadata.LastEntryId == lastEntryId)
                {
                    return current;
                }
                throw new LedgerFencedException(ledgerId, $"closed by another client at entry {metadata.LastEntryId}");
            }
            if (metadata.State != closingFrom)
            {
                // A writer that finds IN_RECOVERY has been fenced — DESIGN §3.5.
                throw new LedgerFencedException(ledgerId, $"{metadata.State} while closing it from {closingFrom}");
            }
            if (current.Version != expectedVersion)
            {
                // Same state at a newer version (an ensemble change, a replicated fragment): still this caller's close.
                _logger.LogDebug("Ledger {LedgerId} moved from version {Expected} to {Version} before its close",
                    ledgerId, expectedVersion, current.Version);
            }
            var closed = metadata.Clone();
            closed.State = LedgerState.Closed;
            closed.LastEntryId = lastEntryId;
            closed.Length = length;
            try
            {
                long newVersion = await UpdateAsync(closed, current.Version, ct).ConfigureAwait(false);
                _logger.LogDebug("Closed ledger {LedgerId} at entry {LastEntryId} ({Length} bytes)", ledgerId, lastEntryId, length);
                return (closed, newVersion);
            }
            catch (BadVersionException)
            {
                // Someone else wrote the record between our read and our CAS: re-read and decide again.
            }
        }
    }

    /// <summary>Deletes the record (null = any version). Throws <see cref="NoSuchLedgerException"/> or <see cref="BadVersionException"/>.</summary>
    public async Task DeleteAsync(long ledgerId, long? expectedVersion, CancellationToken ct = default)
    {
        try
        {
            await Store.DeleteAsync(MetadataPaths.Ledger(ledgerId), expectedVersion, ct).ConfigureAwait(false);
        }
        catch (NoNodeException)
        {
            throw new NoSuchLedgerException(ledgerId);
        }
    }

    /// <summary>Ids of every ledger, ascending.</summary>
    public async Task<IReadOnlyList<long>> ListAsync(CancellationToken ct = default)
    {
        var children = await Store.GetChildrenAsync(MetadataPaths.Ledgers, ct).ConfigureAwait(false);
        var ids = new List<long>(children.Count);
        foreach (string name in children)
        {
            if (MetadataPaths.TryParseLedgerName(name, out long id))
            {
                ids.Add(id);
            }
        }
        ids.Sort();
        return ids;
    }

    /// <summary>
    /// Calls <paramref name="changed"/> with the ledger id once the watch is armed (so nothing between the caller's
    /// own read and the arming is missed), then whenever the ledger's record is created, modified or deleted, and
    /// after a reconnect or new session. Calls are serialized and may coalesce several changes: read the metadata
    /// again in the callback. Dispose to stop.
    /// </summary>
    public IDisposable Watch(long ledgerId, Action<long> changed)
    {
        ArgumentNullException.ThrowIfNull(changed);
        string path = MetadataPaths.Ledger(ledgerId);
        return new RearmingWatch(
            Store,
            n => n.Path == path && n.Type != NotificationType.ChildrenChanged,
            s => s.ExistsAsync(path),
            () => changed(ledgerId),
            _logger);
    }
}
