using Pulsarish.Protocol.Errors;

namespace Pulsarish.Ledgers;

/// <summary>No bookie of an entry's write set could serve it (errors or timeouts on every one).</summary>
public sealed class LedgerReadException(long ledgerId, long entryId, string detail)
    : PulsarishException("ReadFailed", $"could not read entry {ledgerId}:{entryId}: {detail}")
{
    public long LedgerId { get; } = ledgerId;
    public long EntryId { get; } = entryId;
}
