using Pulsarish.Protocol.Errors;
using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Ledgers;

/// <summary>
/// Spreads ensembles across racks (BookKeeper's RackawareEnsemblePlacementPolicy, best effort): bookies are taken
/// round-robin over racks, so consecutive ensemble positions — and therefore each write set, when there are at
/// least Qw racks — land in different racks. A replacement prefers a rack not used by any bookie sharing a write set
/// with the replaced position. The rack is the one in the bookie's registration (empty = <see cref="DefaultRack"/>).
/// Thread-safe.
/// </summary>
public sealed class RackAwarePlacementPolicy : IPlacementPolicy
{
    public const string DefaultRack = "/default-rack";

    public IReadOnlyList<string> NewEnsemble(int ensembleSize, int writeQuorum, int ackQuorum,
        IReadOnlyList<BookieServiceInfo> available, IReadOnlySet<string> excluded)
    {
        var byRack = new Dictionary<string, List<string>>(StringComparer.Ordinal);
        int total = 0;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var info in available)
        {
            if (info.ReadOnly || excluded.Contains(info.BookieId) || !seen.Add(info.BookieId))
            {
                continue;
            }
            string rack = RackOf(info);
            if (!byRack.TryGetValue(rack, out var list))
            {
                byRack[rack] = list = new List<string>();
            }
            list.Add(info.BookieId);
            total++;
        }
        if (total < ensembleSize)
        {
            throw new NotEnoughBookiesException($"need {ensembleSize} bookies, {total} writable and not excluded");
        }
        var racks = new List<List<string>>(byRack.Values);
        foreach (var list in racks)
        {
            Random.Shared.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(list));
        }
        Random.Shared.Shuffle(System.Runtime.InteropServices.CollectionsMarshal.AsSpan(racks));
        // Largest racks first so the round-robin does not run out of distinct racks early.
        racks.Sort((a, b) => b.Count.CompareTo(a.Count));
        var ensemble = new List<string>(ensembleSize);
        var next = new int[racks.Count];
        int rackIndex = 0;
        while (ensemble.Count < ensembleSize)
        {
            if (next[rackIndex] < racks[rackIndex].Count)
            {
                ensemble.Add(racks[rackIndex][next[rackIndex]++]);
            }
            rackIndex = (rackIndex + 1) % racks.Count;
        }
        return ensemble;
    }

    public string ReplaceBookie(IReadOnlyList<string> ensemble, int index, int writeQuorum,
        IReadOnlyList<BookieServiceInfo> available, IReadOnlySet<string> excluded)
    {
        var rackById = new Dictionary<string, string>(StringComparer.Ordinal);
        foreach (var info in available)
        {
            rackById[info.BookieId] = RackOf(info);
        }
        // Racks of the bookies that share a write set with position `index`: those within Qw-1 positions of it.
        var neighbourRacks = new HashSet<string>(StringComparer.Ordinal);
        int e = ensemble.Count;
        for (int d = 1; d < writeQuorum && d < e; d++)
        {
            foreach (int j in new[] { (index + d) % e, (index - d + e) % e })
            {
                if (rackById.TryGetValue(ensemble[j], out var rack))
                {
                    neighbourRacks.Add(rack);
                }
            }
        }
        var candidates = RandomPlacementPolicy.Candidates(available, excluded, ensemble);
        if (candidates.Count == 0)
        {
            throw new NotEnoughBookiesException($"no bookie left to replace {ensemble[index]}");
        }
        var preferred = new List<string>();
        foreach (var id in candidates)
        {
            if (!neighbourRacks.Contains(rackById[id]))
            {
                preferred.Add(id);
            }
        }
        var pool = preferred.Count > 0 ? preferred : candidates;
        return pool[Random.Shared.Next(pool.Count)];
    }

    private static string RackOf(BookieServiceInfo info) => string.IsNullOrEmpty(info.Rack) ? DefaultRack : info.Rack;
}
