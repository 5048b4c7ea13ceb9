using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Ledgers;

/// <summary>Ledger metadata with the store version it was read or written at (for compare-and-set).</summary>
public sealed record VersionedLedgerMetadata(LedgerMetadata Metadata, long Version);

/// <summary>
/// The ledger client's view of ledger metadata (BookKeeper's LedgerManager): versioned records under
/// /ledgers/L&lt;id&gt; (DESIGN.md §6). Production: <see cref="MetadataStoreLedgerManager"/>. Thread-safe.
/// </summary>
public interface ILedgerManager
{
    /// <summary>
    /// Stores new metadata under a fresh ledger id (set into the returned copy), greater than
    /// <paramref name="idAboveExclusive"/> (a managed ledger's last ledger id: its ledgers must be in id order).
    /// </summary>
    Task<VersionedLedgerMetadata> CreateAsync(LedgerMetadata metadata, long idAboveExclusive = 0, CancellationToken ct = default);

    /// <summary>The metadata, or null when the ledger does not exist.</summary>
    Task<VersionedLedgerMetadata?> ReadAsync(long ledgerId, CancellationToken ct = default);

    /// <summary>Compare-and-set; returns the new version. Throws BadVersionException or NoNodeException.</summary>
    Task<long> UpdateAsync(LedgerMetadata metadata, long expectedVersion, CancellationToken ct = default);

    /// <summary>
    /// Closes the ledger at <paramref name="lastEntryId"/> by compare-and-set from <paramref name="closingFrom"/>
    /// (see <c>LedgerMetadataStore.CloseAsync</c>, the one close of the writer and of recovery). Throws
    /// LedgerFencedException when another client closed it elsewhere or put it IN_RECOVERY under its writer.
    /// </summary>
    Task<VersionedLedgerMetadata> CloseAsync(long ledgerId, long lastEntryId, long length, long expectedVersion,
        LedgerState closingFrom, CancellationToken ct = default);

    /// <summary>Deletes the metadata. Throws NoNodeException when missing.</summary>
    Task DeleteAsync(long ledgerId, CancellationToken ct = default);
}
