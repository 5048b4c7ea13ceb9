using Pulsarish.Protocol.Errors;

namespace Pulsarish.Ledgers;

/// <summary>
/// Recovery could not finish (too few bookies answered to fence, or an entry could be neither read nor proven
/// absent). The ledger stays IN_RECOVERY and recovery can be retried.
/// </summary>
public sealed class LedgerRecoveryException(long ledgerId, string detail)
    : PulsarishException("RecoveryFailed", $"recovery of ledger {ledgerId} failed: {detail}")
{
    public long LedgerId { get; } = ledgerId;
}
