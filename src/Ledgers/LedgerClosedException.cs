using Pulsarish.Protocol.Errors;

namespace Pulsarish.Ledgers;

/// <summary>The ledger handle was closed: the add was not acknowledged and is not part of the ledger.</summary>
public sealed class LedgerClosedException(long ledgerId)
    : PulsarishException("LedgerClosed", $"ledger {ledgerId} is closed")
{
    public long LedgerId { get; } = ledgerId;
}
