using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Ledgers;

/// <summary>
/// Chooses bookies for new ensembles and replacements (BookKeeper's EnsemblePlacementPolicy). Pluggable through
/// <see cref="LedgerClient.CreateLedgerAsync"/>. Implementations must be thread-safe and throw
/// <see cref="Errors.NotEnoughBookiesException"/> when the request cannot be met.
/// </summary>
public interface IPlacementPolicy
{
    /// <summary>Picks <paramref name="ensembleSize"/> distinct bookies from <paramref name="available"/>, none in <paramref name="excluded"/>.</summary>
    IReadOnlyList<string> NewEnsemble(int ensembleSize, int writeQuorum, int ackQuorum,
        IReadOnlyList<BookieServiceInfo> available, IReadOnlySet<string> excluded);

    /// <summary>
    /// Picks a bookie to take the place of <c>ensemble[index]</c>: not in the ensemble and not in
    /// <paramref name="excluded"/>.
    /// </summary>
    string ReplaceBookie(IReadOnlyList<string> ensemble, int index, int writeQuorum,
        IReadOnlyList<BookieServiceInfo> available, IReadOnlySet<string> excluded);
}
