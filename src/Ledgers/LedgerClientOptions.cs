using System.ComponentModel.DataAnnotations;
namespace Pulsarish.Ledgers;

/// <summary>
/// Settings of the ledger client. Defaults follow BookKeeper's ClientConfiguration where it has the setting
/// (addEntryTimeoutSec = 10, readEntryTimeoutSec = 5, speculativeReadTimeout = 2000 ms, throttle = 5000,
/// connectTimeoutMillis = 10000, CRC32C digests).
/// </summary>
public sealed class LedgerClientOptions
{
    /// <summary>Configuration section the options bind from.</summary>
    public const string SectionName = "LedgerClient";

    /// <summary>A bookie that has not answered an add within this time is treated as failed (ensemble change).</summary>
    public TimeSpan AddTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// An add not complete within this time fails the handle with <see cref="AddQuorumTimeoutException"/>
    /// (BookKeeper's addEntryQuorumTimeoutSec); null disables it, as BookKeeper's default -1.
    /// </summary>
    public TimeSpan? AddQuorumTimeout { get; set; }

    /// <summary>Deadline of one read, read-LAC or fence request to one bookie.</summary>
    public TimeSpan ReadTimeout { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>A read not answered within this time is also sent to the next bookie of the write set.</summary>
    public TimeSpan SpeculativeReadTimeout { get; set; } = TimeSpan.FromMilliseconds(2000);

    /// <summary>
    /// Adds in flight (sent, not yet complete) per ledger handle. Further adds wait, in call order, until earlier
    /// ones complete (back-pressure).
    /// </summary>
    [Range(1, int.MaxValue)]
    public int MaxPendingAdds { get; set; } = 5000;

    /// <summary>Entries of one range read (and of recovery's rewrite) in flight at once.</summary>
    [Range(1, int.MaxValue)]
    public int MaxOutstandingReads { get; set; } = 64;

    /// <summary>Verify each entry's CRC32C digest on read (writers always compute it; bookies verify it on add).</summary>
    public bool VerifyDigestOnRead { get; set; } = true;

    /// <summary>Placement used when <see cref="LedgerClient.CreateLedgerAsync"/> is not given one.</summary>
    public IPlacementPolicy PlacementPolicy { get; set; } = new RandomPlacementPolicy();

    /// <summary>TCP connect timeout towards a bookie.</summary>
    public TimeSpan BookieConnectTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>Adds queued for one bookie's add stream before further ones are failed with ERROR.</summary>
    [Range(1, int.MaxValue)]
    public int MaxQueuedAddsPerBookie { get; set; } = 100_000;

    /// <summary>
    /// Adds one AddBatch message to a bookie carries at most. The writer of a bookie's stream puts every add queued
    /// while its previous write was in progress into the next message (no added delay), up to this many.
    /// </summary>
    [Range(1, int.MaxValue)]
    public int MaxAddsPerBatchMessage { get; set; } = 512;

    /// <summary>Payload bytes after which an AddBatch message takes no further add (one add always fits).</summary>
    [Range(1, int.MaxValue)]
    public int MaxBatchMessageBytes { get; set; } = 1024 * 1024;

    /// <summary>Throws <see cref="ArgumentException"/> on a setting out of range.</summary>
    public void Validate()
    {
        if (AddTimeout <= TimeSpan.Zero) throw new ArgumentException("AddTimeout must be positive", nameof(AddTimeout));
        if (AddQuorumTimeout is { } quorumTimeout && quorumTimeout <= TimeSpan.Zero) throw new ArgumentException("AddQuorumTimeout must be positive", nameof(AddQuorumTimeout));
        if (ReadTimeout <= TimeSpan.Zero) throw new ArgumentException("ReadTimeout must be positive", nameof(ReadTimeout));
        if (SpeculativeReadTimeout <= TimeSpan.Zero) throw new ArgumentException("SpeculativeReadTimeout must be positive", nameof(SpeculativeReadTimeout));
        if (MaxPendingAdds < 1) throw new ArgumentException("MaxPendingAdds must be at least 1", nameof(MaxPendingAdds));
        if (MaxOutstandingReads < 1) throw new ArgumentException("MaxOutstandingReads must be at least 1", nameof(MaxOutstandingReads));
        if (MaxQueuedAddsPerBookie < 1) throw new ArgumentException("MaxQueuedAddsPerBookie must be at least 1", nameof(MaxQueuedAddsPerBookie));
        if (MaxAddsPerBatchMessage < 1) throw new ArgumentException("MaxAddsPerBatchMessage must be at least 1", nameof(MaxAddsPerBatchMessage));
        if (MaxBatchMessageBytes < 1) throw new ArgumentException("MaxBatchMessageBytes must be at least 1", nameof(MaxBatchMessageBytes));
        ArgumentNullException.ThrowIfNull(PlacementPolicy);
    }
}
