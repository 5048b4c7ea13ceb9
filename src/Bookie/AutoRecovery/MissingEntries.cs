namespace Pulsarish.Bookie.AutoRecovery;

/// <summary>
/// What a check found for one bookie of one fragment: the entries it should hold but does not
/// (<see cref="Unavailable"/>: the bookie is not registered, so all of them), or <see cref="Unknown"/> when it did not
/// answer.
/// </summary>
public sealed record MissingEntries(
    long LedgerId, int FragmentIndex, long FirstEntryId, long LastEntryId, string BookieId,
    IReadOnlyList<long> Missing, bool Unavailable, bool Unknown);
