namespace Pulsarish.Ledgers;

/// <summary>One add as sent to one bookie; <see cref="Payload"/> is the stored entry (see <see cref="LedgerEntryFormat"/>).</summary>
public readonly record struct BookieAddRequest(
    long LedgerId,
    long EntryId,
    ReadOnlyMemory<byte> MasterKey,
    long Lac,
    uint Digest,
    ReadOnlyMemory<byte> Payload,
    bool Recovery);
