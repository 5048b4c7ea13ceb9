using Pulsarish.Protocol.Errors;
using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Ledgers;

/// <summary>
/// A reader of a ledger (BookKeeper's ReadOnlyLedgerHandle): a CLOSED ledger is readable up to its last entry, an
/// OPEN one up to the LAC learnt from its bookies (<see cref="ReadLastAddConfirmedAsync"/>). While the ledger is
/// OPEN its writer may change the ensemble: a read that fails re-reads the metadata once and retries. Thread-safe.
/// </summary>
public sealed class ReadOnlyLedgerHandle
{
    private readonly LedgerClient _client;
    private volatile LedgerMetadata _metadata;
    private long _lastAddConfirmed;

    internal ReadOnlyLedgerHandle(LedgerClient client, LedgerMetadata metadata, long lastAddConfirmed)
    {
        _client = client;
        _metadata = metadata;
        LedgerId = metadata.LedgerId;
        _lastAddConfirmed = metadata.State == LedgerState.Closed ? metadata.LastEntryId : lastAddConfirmed;
    }

    public long LedgerId { get; }

    /// <summary>A copy of the metadata this handle last read.</summary>
    public LedgerMetadata Metadata => _metadata.Clone();

    public bool IsClosed => _metadata.State == LedgerState.Closed;

    /// <summary>Last readable entry: the last entry of a CLOSED ledger, the known LAC of an OPEN one (-1: none).</summary>
    public long LastAddConfirmed => Interlocked.Read(ref _lastAddConfirmed);

    /// <summary>Payload bytes of a CLOSED ledger (0 while OPEN).</summary>
    public long Length => _metadata is { State: LedgerState.Closed } closed ? closed.Length : 0;

    /// <summary>Entries first..last in order; beyond <see cref="LastAddConfirmed"/> → <see cref="ReadBeyondLastEntryException"/>.</summary>
    public async Task<IReadOnlyList<LedgerEntry>> ReadAsync(long firstEntryId, long lastEntryId, CancellationToken ct = default)
    {
        var metadata = _metadata;
        try
        {
            return await _client.Reader.ReadAsync(metadata, firstEntryId, lastEntryId, LastAddConfirmed, ct).ConfigureAwait(false);
        }
        catch (Exception ex) when (metadata.State != LedgerState.Closed && ex is LedgerReadException or NoSuchEntryException)
        {
            if (!await RefreshMetadataAsync(metadata, ct).ConfigureAwait(false))
            {
                throw;
            }
            return await _client.Reader.ReadAsync(_metadata, firstEntryId, lastEntryId, LastAddConfirmed, ct).ConfigureAwait(false);
        }
    }

    /// <summary>Asks the bookies for the LAC of an OPEN ledger (no fencing) and raises <see cref="LastAddConfirmed"/>.</summary>
    public async Task<long> ReadLastAddConfirmedAsync(CancellationToken ct = default)
    {
        var metadata = _metadata;
        if (metadata.State == LedgerState.Closed)
        {
            return metadata.LastEntryId;
        }
        long lac;
        try
        {
            lac = await ReadLastConfirmedOp.RunAsync(_client.Bookies, metadata, fence: false, ct).ConfigureAwait(false);
        }
        catch (LedgerRecoveryException)
        {
            if (!await RefreshMetadataAsync(metadata, ct).ConfigureAwait(false))
            {
                throw;
            }
            metadata = _metadata;
            lac = metadata.State == LedgerState.Closed
                ? metadata.LastEntryId
                : await ReadLastConfirmedOp.RunAsync(_client.Bookies, metadata, fence: false, ct).ConfigureAwait(false);
        }
        RaiseLastAddConfirmed(lac);
        return LastAddConfirmed;
    }

    /// <summary>Re-reads the metadata; true when it changed (new fragment or closed).</summary>
    private async Task<bool> RefreshMetadataAsync(LedgerMetadata seen, CancellationToken ct)
    {
        var fresh = await _client.Ledgers.ReadAsync(LedgerId, ct).ConfigureAwait(false) ?? throw new NoSuchLedgerException(LedgerId);
        if (fresh.Metadata.Equals(seen))
        {
            return false;
        }
        _metadata = fresh.Metadata;
        if (fresh.Metadata.State == LedgerState.Closed)
        {
            RaiseLastAddConfirmed(fresh.Metadata.LastEntryId);
        }
        return true;
    }

    private void RaiseLastAddConfirmed(long lac)
    {
        long current;
        while ((current = Interlocked.Read(ref _lastAddConfirmed)) < lac
            && Interlocked.CompareExchange(ref _lastAddConfirmed, lac, current) != current)
        {
        }
    }
}
