namespace Pulsarish.Bookie.AutoRecovery;

/// <summary>
/// A re-replication task (/ledgers/underreplication/ledgers/&lt;ledgerId&gt;): the bookies whose copies of the
/// ledger are lost or incomplete, the task's version (for a compare-and-set delete) and creation time.
/// </summary>
public sealed record UnderReplicatedLedger(long LedgerId, IReadOnlySet<string> MissingBookies, long Version, long CreatedMillis);
