using Pulsarish.Protocol.Errors;

namespace Pulsarish.Ledgers;

/// <summary>
/// A read asked for entries past what is readable: the LAC of an OPEN ledger or the last entry of a CLOSED one
/// (DESIGN.md §3.6).
/// </summary>
public sealed class ReadBeyondLastEntryException(long ledgerId, long requestedEntryId, long lastReadableEntryId)
    : PulsarishException("ReadBeyondLastEntry",
        $"ledger {ledgerId}: entry {requestedEntryId} is beyond the last readable entry {lastReadableEntryId}")
{
    public long LedgerId { get; } = ledgerId;
    public long RequestedEntryId { get; } = requestedEntryId;
    public long LastReadableEntryId { get; } = lastReadableEntryId;
}
