using Prometheus;

namespace Pulsarish.Bookie.AutoRecovery;

/// <summary>Prometheus metrics of AutoRecovery, in a given registry (the bookie's own, or the default one). Thread-safe.</summary>
public sealed class AutoRecoveryMetrics
{
    public AutoRecoveryMetrics(CollectorRegistry registry)
    {
        var factory = Metrics.WithCustomRegistry(registry);
        PendingTasks = factory.CreateGauge("pulsarish_autorecovery_pending_tasks",
            "Re-replication tasks listed at the worker's last look.");
        ReplicatedEntries = factory.CreateCounter("pulsarish_autorecovery_replicated_entries_total",
            "Entries copied to replacement bookies.");
        ReplicatedFragments = factory.CreateCounter("pulsarish_autorecovery_replicated_fragments_total",
            "Fragment copies whose new ensemble was written into the ledger metadata.");
        ReplicatedLedgers = factory.CreateCounter("pulsarish_autorecovery_replicated_ledgers_total",
            "Tasks completed (ledger fully replicated).");
        FailedLedgers = factory.CreateCounter("pulsarish_autorecovery_failed_ledgers_total",
            "Task attempts left unfinished (retried later).");
        TasksFiled = factory.CreateCounter("pulsarish_autorecovery_tasks_filed_total",
            "Tasks filed or extended by the auditor.");
        IsAuditor = factory.CreateGauge("pulsarish_autorecovery_is_auditor", "1 while this process is the elected auditor.");
    }

    public Gauge PendingTasks { get; }
    public Counter ReplicatedEntries { get; }
    public Counter ReplicatedFragments { get; }
    public Counter ReplicatedLedgers { get; }
    public Counter FailedLedgers { get; }
    public Counter TasksFiled { get; }
    public Gauge IsAuditor { get; }
}
