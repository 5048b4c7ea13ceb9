using Pulsarish.Ledgers;
using Pulsarish.Protocol.Metadata;
using StatusCode = Pulsarish.Protocol.Bookie.StatusCode;

namespace Pulsarish.Bookie.AutoRecovery;

/// <summary>
/// Asks each bookie of each ended fragment whether it has the entries its write sets give it (BookKeeper's
/// LedgerChecker). The unended last fragment of an OPEN ledger is its writer's and is not checked. Thread-safe.
/// </summary>
public sealed class LedgerChecker(IBookieClient bookies)
{
    /// <summary>
    /// Checks <paramref name="metadata"/>. With <paramref name="everyEntry"/> each expected entry is read; otherwise
    /// only the first and last entry a bookie should hold in each fragment (BookKeeper's default). Bookies not in
    /// <paramref name="available"/> are reported <see cref="MissingEntries.Unavailable"/>. Returns only problems.
    /// </summary>
    public async Task<IReadOnlyList<MissingEntries>> CheckAsync(LedgerMetadata metadata, IReadOnlySet<string> available,
        bool everyEntry, CancellationToken ct = default)
    {
        var problems = new List<MissingEntries>();
        for (int f = 0; f < metadata.Fragments.Count; f++)
        {
            var fragment = metadata.Fragments[f];
            long? last = FragmentRange.LastEntryId(metadata, f);
            if (last is null || last < fragment.FirstEntryId)
            {
                continue; // unended (writer's) or empty fragment
            }
            var checks = new List<Task<MissingEntries?>>(fragment.Bookies.Count);
            for (int index = 0; index < fragment.Bookies.Count; index++)
            {
                if (FragmentRange.HoldsAny(metadata, index, fragment.FirstEntryId, last.Value))
                {
                    checks.Add(CheckBookieAsync(metadata, f, index, last.Value, available, everyEntry, ct));
                }
            }
            foreach (var check in checks)
            {
                if (await check.ConfigureAwait(false) is { } problem)
                {
                    problems.Add(problem);
                }
            }
        }
        return problems;
    }

    private async Task<MissingEntries?> CheckBookieAsync(LedgerMetadata metadata, int fragmentIndex, int bookieIndex,
        long last, IReadOnlySet<string> available, bool everyEntry, CancellationToken ct)
    {
        var fragment = metadata.Fragments[fragmentIndex];
        string bookie = fragment.Bookies[bookieIndex];
        long first = fragment.FirstEntryId;
        var expected = new List<long>();
        if (everyEntry)
        {
            for (long e = first; e <= last; e++)
            {
                if (WriteSet.Contains(e, bookieIndex, metadata.EnsembleSize, metadata.WriteQuorum))
                {
                    expected.Add(e);
                }
            }
        }
        else
        {
            expected.Add(FragmentRange.FirstHeld(metadata, bookieIndex, first, last));
            long lastHeld = FragmentRange.LastHeld(metadata, bookieIndex, first, last);
            if (lastHeld != expected[0])
            {
                expected.Add(lastHeld);
            }
        }
        if (!available.Contains(bookie))
        {
            return new MissingEntries(metadata.LedgerId, fragmentIndex, first, last, bookie, expected, Unavailable: true, Unknown: false);
        }
        var lac = await bookies.ReadLacAsync(bookie, metadata.LedgerId, ct).ConfigureAwait(false);
        if (lac.Status == StatusCode.NoSuchLedger)
        {
            return new MissingEntries(metadata.LedgerId, fragmentIndex, first, last, bookie, expected, Unavailable: false, Unknown: false);
        }
        if (lac.Status != StatusCode.Ok)
        {
            return new MissingEntries(metadata.LedgerId, fragmentIndex, first, last, bookie, [], Unavailable: false, Unknown: true);
        }
        var missing = new List<long>();
        bool unknown = false;
        foreach (long entry in expected)
        {
            var read = await bookies.ReadEntryAsync(bookie, metadata.LedgerId, entry, false, ReadOnlyMemory<byte>.Empty, ct)
                .ConfigureAwait(false);
            if (read.Status is StatusCode.NoSuchEntry or StatusCode.NoSuchLedger or StatusCode.Corrupt)
            {
                missing.Add(entry);
            }
            else if (read.Status != StatusCode.Ok)
            {
                unknown = true;
            }
        }
        return missing.Count == 0 && !unknown
            ? null
            : new MissingEntries(metadata.LedgerId, fragmentIndex, first, last, bookie, missing, Unavailable: false, Unknown: unknown && missing.Count == 0);
    }
}
