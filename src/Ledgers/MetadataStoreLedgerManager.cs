using Pulsarish.Metadata;
using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Ledgers;

/// <summary><see cref="ILedgerManager"/> over the metadata store's <see cref="LedgerMetadataStore"/> (ZooKeeper or embedded).</summary>
public sealed class MetadataStoreLedgerManager(LedgerMetadataStore store) : ILedgerManager
{
    public async Task<VersionedLedgerMetadata> CreateAsync(LedgerMetadata metadata, long idAboveExclusive = 0, CancellationToken ct = default)
    {
        var (created, version) = await store.CreateAsync(metadata.Clone(), idAboveExclusive, ct).ConfigureAwait(false);
        return new VersionedLedgerMetadata(created, version);
    }

    public async Task<VersionedLedgerMetadata?> ReadAsync(long ledgerId, CancellationToken ct = default)
    {
        var result = await store.ReadAsync(ledgerId, ct).ConfigureAwait(false);
        return result is { } r ? new VersionedLedgerMetadata(r.Metadata, r.Version) : null;
    }

    public Task<long> UpdateAsync(LedgerMetadata metadata, long expectedVersion, CancellationToken ct = default)
        => store.UpdateAsync(metadata, expectedVersion, ct);

    public async Task<VersionedLedgerMetadata> CloseAsync(long ledgerId, long lastEntryId, long length, long expectedVersion,
        LedgerState closingFrom, CancellationToken ct = default)
    {
        var (closed, version) = await store.CloseAsync(ledgerId, lastEntryId, length, expectedVersion, closingFrom, ct)
            .ConfigureAwait(false);
        return new VersionedLedgerMetadata(closed, version);
    }

    public Task DeleteAsync(long ledgerId, CancellationToken ct = default) => store.DeleteAsync(ledgerId, null, ct);
}
