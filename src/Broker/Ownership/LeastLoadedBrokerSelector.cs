using System.Text;
using Pulsarish.Protocol.Checksums;

namespace Pulsarish.Broker.Ownership;

/// <summary>
/// Picks the broker a new bundle is assigned to: the least loaded live broker (Pulsar's ModularLoadManager
/// "least loaded" strategy, reduced to bundle count, then topic count, then message rate). Ties are broken by
/// rendezvous hashing of (bundle, broker id), so every broker reading the same reports picks the same candidate and
/// bundles still spread when the reports are stale.
/// </summary>
public static class LeastLoadedBrokerSelector
{
    /// <summary>The chosen broker, or null when <paramref name="liveBrokers"/> is empty.</summary>
    public static BrokerLoadReport? Select(IReadOnlyList<BrokerLoadReport> liveBrokers, NamespaceBundle bundle)
    {
        BrokerLoadReport? best = null;
        uint bestTieBreak = 0;
        foreach (var candidate in liveBrokers)
        {
            uint tieBreak = TieBreak(bundle, candidate.BrokerId);
            if (best is null || Compare(candidate, tieBreak, best, bestTieBreak) < 0)
            {
                best = candidate;
                bestTieBreak = tieBreak;
            }
        }
        return best;
    }

    private static int Compare(BrokerLoadReport a, uint aTie, BrokerLoadReport b, uint bTie)
    {
        int c = a.BundleCount.CompareTo(b.BundleCount);
        if (c != 0) return c;
        c = a.TopicCount.CompareTo(b.TopicCount);
        if (c != 0) return c;
        c = (a.MsgRateIn + a.MsgRateOut).CompareTo(b.MsgRateIn + b.MsgRateOut);
        if (c != 0) return c;
        c = aTie.CompareTo(bTie);
        return c != 0 ? c : string.CompareOrdinal(a.BrokerId, b.BrokerId);
    }

    private static uint TieBreak(NamespaceBundle bundle, string brokerId) =>
        Crc32C.Compute(Encoding.UTF8.GetBytes(bundle.ToString() + "|" + brokerId));
}
