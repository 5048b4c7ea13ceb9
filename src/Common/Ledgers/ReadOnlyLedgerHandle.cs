using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Common.Ledgers;

/// <summary>
/// A reader of a ledger (BookKeeper's ReadOnlyLedgerHandle): a CLOSED ledger is readable up to its last entry, an
/// OPEN one up to the LAC learnt from its bookies (<see cref="ReadLastAddConfirmedAsync"/>). Thread-safe.
/// </summary>
public sealed class ReadOnlyLedgerHandle
{
    private readonly LedgerClient _client;
    private readonly LedgerMetadata _metadata;
    private long _lastAddConfirmed;

    internal ReadOnlyLedgerHandle(LedgerClient client, LedgerMetadata metadata, long lastAddConfirmed)
    {
        _client = client;
        _metadata = metadata;
        _lastAddConfirmed = metadata.State == LedgerState.Closed ? metadata.LastEntryId : lastAddConfirmed;
    }

    public long LedgerId => _metadata.LedgerId;

    /// <summary>A copy of the metadata this handle was opened with.</summary>
    public LedgerMetadata Metadata => _metadata.Clone();

    public bool IsClosed => _metadata.State == LedgerState.Closed;

    /// <summary>Last readable entry: the last entry of a CLOSED ledger, the known LAC of an OPEN one (-1: none).</summary>
    public long LastAddConfirmed => Interlocked.Read(ref _lastAddConfirmed);

    /// <summary>Payload bytes of a CLOSED ledger (0 while OPEN).</summary>
    public long Length => IsClosed ? _metadata.Length : 0;

    /// <summary>Entries first..last in order; beyond <see cref="LastAddConfirmed"/> → <see cref="ReadBeyondLastEntryException"/>.</summary>
    public Task<IReadOnlyList<LedgerEntry>> ReadAsync(long firstEntryId, long lastEntryId, CancellationToken ct = default)
        => _client.Reader.ReadAsync(_metadata, firstEntryId, lastEntryId, LastAddConfirmed, ct);

    /// <summary>Asks the bookies for the LAC of an OPEN ledger (no fencing) and raises <see cref="LastAddConfirmed"/>.</summary>
    public async Task<long> ReadLastAddConfirmedAsync(CancellationToken ct = default)
    {
        if (IsClosed)
        {
            return _metadata.LastEntryId;
        }
        long lac = await ReadLastConfirmedOp.RunAsync(_client.Bookies, _metadata, fence: false, ct).ConfigureAwait(false);
        long current;
        while ((current = Interlocked.Read(ref _lastAddConfirmed)) < lac
            && Interlocked.CompareExchange(ref _lastAddConfirmed, lac, current) != current)
        {
        }
        return LastAddConfirmed;
    }
}
