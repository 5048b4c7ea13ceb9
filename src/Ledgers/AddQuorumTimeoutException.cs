using Pulsarish.Protocol.Errors;

namespace Pulsarish.Ledgers;

/// <summary>An add did not complete within <see cref="LedgerClientOptions.AddQuorumTimeout"/>; the handle failed.</summary>
public sealed class AddQuorumTimeoutException(long ledgerId, long entryId)
    : PulsarishException("AddTimeout", $"add of entry {ledgerId}:{entryId} did not reach its ack quorum in time")
{
    public long LedgerId { get; } = ledgerId;
    public long EntryId { get; } = entryId;
}
