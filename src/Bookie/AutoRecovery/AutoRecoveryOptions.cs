using System.ComponentModel.DataAnnotations;
using Pulsarish.Ledgers;

namespace Pulsarish.Bookie.AutoRecovery;

/// <summary>
/// Settings of AutoRecovery (auditor + replication worker). Defaults follow BookKeeper's <c>bk_server.conf</c> where
/// a counterpart exists (named in each summary).
/// </summary>
public sealed class AutoRecoveryOptions
{
    /// <summary>
    /// How long a bookie must have been gone before its ledgers are filed for re-replication; a restart within
    /// this delay files nothing. BookKeeper: <c>lostBookieRecoveryDelay</c> (0 there; 30 s here, as Pulsar's
    /// deployments set it).
    /// </summary>
    public TimeSpan LostBookieRecoveryDelay { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// Interval of the auditor's full check (every fragment of every ledger asked on each of its bookies); null
    /// disables it. BookKeeper: <c>auditorPeriodicCheckInterval=604800</c> s.
    /// </summary>
    public TimeSpan? PeriodicCheckInterval { get; set; } = TimeSpan.FromDays(7);

    /// <summary>
    /// The periodic check reads every entry a bookie should hold instead of the first and last of each of its
    /// fragment ranges. BookKeeper: <c>auditorLedgerVerificationPercentage</c> (0 = first/last only).
    /// </summary>
    public bool CheckEveryEntry { get; set; }

    /// <summary>How often the auditor re-evaluates lost bookies (besides availability notifications).</summary>
    public TimeSpan AuditTick { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>
    /// How long the last, unended fragment of an OPEN ledger is left to its writer before the worker fences the
    /// ledger and re-replicates it. BookKeeper: <c>openLedgerRereplicationGracePeriod=30000</c> ms.
    /// </summary>
    public TimeSpan OpenLedgerRereplicationGracePeriod { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>
    /// How long a worker leaves a task alone after failing to finish it. BookKeeper:
    /// <c>lockReleaseOfFailedLedgerGracePeriod=300000</c> ms (shorter here: tasks are retried by any worker).
    /// </summary>
    public TimeSpan FailedLedgerRetryDelay { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>How often the worker lists tasks when no notification arrived.</summary>
    public TimeSpan TaskPollInterval { get; set; } = TimeSpan.FromSeconds(5);

    /// <summary>Ledgers one worker re-replicates at the same time. BookKeeper: <c>numReplicationWorkerThreads=1</c>.</summary>
    [Range(1, int.MaxValue)]
    public int MaxConcurrentLedgers { get; set; } = 1;

    /// <summary>
    /// Entries copied per second by one worker (token bucket). BookKeeper: <c>replicationRateByBytes</c> (off by
    /// default); an entry rate keeps the setting independent of entry size.
    /// </summary>
    [Range(1, int.MaxValue)]
    public int MaxEntriesPerSecond { get; set; } = 10_000;

    /// <summary>Entry copies (read + recovery add) in flight per fragment. BookKeeper: <c>rereplicationEntryBatchSize=10</c>.</summary>
    [Range(1, int.MaxValue)]
    public int MaxEntriesInFlight { get; set; } = 10;

    /// <summary>Chooses replacement bookies (the ledger client's placement by default, rack-aware).</summary>
    public IPlacementPolicy PlacementPolicy { get; set; } = new RackAwarePlacementPolicy();

    /// <summary>Timeouts of the worker's bookie traffic (reads, recovery adds, fencing).</summary>
    public LedgerClientOptions ClientOptions { get; set; } = new();

    /// <summary>Throws <see cref="ArgumentException"/> on a setting out of range.</summary>
    public void Validate()
    {
        if (LostBookieRecoveryDelay < TimeSpan.Zero) throw new ArgumentException("LostBookieRecoveryDelay must not be negative");
        if (PeriodicCheckInterval is { } check && check <= TimeSpan.Zero) throw new ArgumentException("PeriodicCheckInterval must be positive");
        if (AuditTick <= TimeSpan.Zero) throw new ArgumentException("AuditTick must be positive");
        if (OpenLedgerRereplicationGracePeriod < TimeSpan.Zero) throw new ArgumentException("OpenLedgerRereplicationGracePeriod must not be negative");
        if (FailedLedgerRetryDelay < TimeSpan.Zero) throw new ArgumentException("FailedLedgerRetryDelay must not be negative");
        if (TaskPollInterval <= TimeSpan.Zero) throw new ArgumentException("TaskPollInterval must be positive");
        if (MaxConcurrentLedgers < 1) throw new ArgumentException("MaxConcurrentLedgers must be at least 1");
        if (MaxEntriesPerSecond < 1) throw new ArgumentException("MaxEntriesPerSecond must be at least 1");
        if (MaxEntriesInFlight < 1) throw new ArgumentException("MaxEntriesInFlight must be at least 1");
        ArgumentNullException.ThrowIfNull(PlacementPolicy);
        ArgumentNullException.ThrowIfNull(ClientOptions);
        ClientOptions.Validate();
    }
}
