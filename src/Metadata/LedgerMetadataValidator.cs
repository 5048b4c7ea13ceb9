using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Metadata;

/// <summary>
/// Checks ledger metadata crossing the metadata-store boundary (DESIGN.md §2, STYLE: typed exception at trust
/// boundaries): E ≥ Qw ≥ Qa ≥ 1, at least one fragment, the first at entry 0, first entry ids strictly increasing,
/// every ensemble exactly E distinct non-empty bookie ids, closed ledgers with lastEntryId ≥ −1 and length ≥ 0.
/// </summary>
public static class LedgerMetadataValidator
{
    /// <summary>Throws <see cref="InvalidMetadataException"/> when <paramref name="m"/> is not valid ledger metadata.</summary>
    public static void Validate(LedgerMetadata m, string path)
    {
        ArgumentNullException.ThrowIfNull(m);
        if (m.LedgerId <= 0)
        {
            throw new InvalidMetadataException(path, $"ledger id {m.LedgerId} is not positive");
        }
        if (!(m.EnsembleSize >= m.WriteQuorum && m.WriteQuorum >= m.AckQuorum && m.AckQuorum >= 1))
        {
            throw new InvalidMetadataException(
                path, $"quorums violate E >= Qw >= Qa >= 1 (E={m.EnsembleSize}, Qw={m.WriteQuorum}, Qa={m.AckQuorum})");
        }
        if (!Enum.IsDefined(m.State))
        {
            throw new InvalidMetadataException(path, $"unknown state {(int)m.State}");
        }
        if (m.Fragments.Count == 0)
        {
            throw new InvalidMetadataException(path, "no fragments");
        }
        if (m.Fragments[0].FirstEntryId != 0)
        {
            throw new InvalidMetadataException(path, $"first fragment starts at {m.Fragments[0].FirstEntryId}, not 0");
        }
        long previousFirst = -1;
        var seen = new HashSet<string>(StringComparer.Ordinal);
        foreach (var fragment in m.Fragments)
        {
            if (fragment.FirstEntryId <= previousFirst)
            {
                throw new InvalidMetadataException(
                    path, $"fragment first entry ids not strictly increasing ({previousFirst} then {fragment.FirstEntryId})");
            }
            previousFirst = fragment.FirstEntryId;
            if (fragment.Bookies.Count != m.EnsembleSize)
            {
                throw new InvalidMetadataException(
                    path, $"fragment at {fragment.FirstEntryId} has {fragment.Bookies.Count} bookies, ensemble size is {m.EnsembleSize}");
            }
            seen.Clear();
            foreach (string bookie in fragment.Bookies)
            {
                if (string.IsNullOrEmpty(bookie) || !seen.Add(bookie))
                {
                    throw new InvalidMetadataException(
                        path, $"fragment at {fragment.FirstEntryId} has an empty or repeated bookie '{bookie}'");
                }
            }
        }
        if (m.State == LedgerState.Closed && (m.LastEntryId < -1 || m.Length < 0))
        {
            throw new InvalidMetadataException(path, $"closed with lastEntryId {m.LastEntryId}, length {m.Length}");
        }
    }
}
