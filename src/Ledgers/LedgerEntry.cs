namespace Pulsarish.Ledgers;

/// <summary>One entry read from a ledger: its id and the payload the writer added (owned by the caller).</summary>
public readonly record struct LedgerEntry(long LedgerId, long EntryId, ReadOnlyMemory<byte> Payload);
