using Pulsarish.Protocol.Errors;
using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Ledgers;

/// <summary>Uniformly random choice among writable bookies (BookKeeper's DefaultEnsemblePlacementPolicy). Thread-safe.</summary>
public sealed class RandomPlacementPolicy : IPlacementPolicy
{
    public IReadOnlyList<string> NewEnsemble(int ensembleSize, int writeQuorum, int ackQuorum,
        IReadOnlyList<BookieServiceInfo> available, IReadOnlySet<string> excluded)
    {
        var candidates = Candidates(available, excluded, null);
        if (candidates.Count < ensembleSize)
        {
            throw new NotEnoughBookiesException(
                $"need {ensembleSize} bookies, {candidates.Count} writable and not excluded");
        }
        Random.Shared.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(candidates));
        return candidates.GetRange(0, ensembleSize);
    }

    public string ReplaceBookie(IReadOnlyList<string> ensemble, int index, int writeQuorum,
        IReadOnlyList<BookieServiceInfo> available, IReadOnlySet<string> excluded)
    {
        var candidates = Candidates(available, excluded, ensemble);
        if (candidates.Count == 0)
        {
            throw new NotEnoughBookiesException($"no bookie left to replace {ensemble[index]}");
        }
        return candidates[Random.Shared.Next(candidates.Count)];
    }

    internal static List<string> Candidates(IReadOnlyList<BookieServiceInfo> available, IReadOnlySet<string> excluded,
        IReadOnlyList<string>? ensemble)
    {
        var result = new List<string>(available.Count);
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var info in available)
        {
            if (info.ReadOnly || excluded.Contains(info.BookieId) || !seen.Add(info.BookieId))
            {
                continue;
            }
            if (ensemble is not null && Contains(ensemble, info.BookieId))
            {
                continue;
            }
            result.Add(info.BookieId);
        }
        return result;
    }

    private static bool Contains(IReadOnlyList<string> ensemble, string bookieId)
    {
        for (int i = 0; i < ensemble.Count; i++)
        {
            if (string.Equals(ensemble[i], bookieId, StringComparison.Ordinal))
            {
                return true;
            }
        }
        return false;
    }
}
