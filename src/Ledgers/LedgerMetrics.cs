using Prometheus;

namespace Pulsarish.Ledgers;

/// <summary>Prometheus metrics of the ledger client (process-wide, default registry).</summary>
public static class LedgerMetrics
{
    public static readonly Counter Adds = Metrics.CreateCounter(
        "pulsarish_ledger_adds_total", "Adds completed (acknowledged) by ledger handles.");

    public static readonly Counter AddErrors = Metrics.CreateCounter(
        "pulsarish_ledger_add_errors_total", "Adds failed (fenced, closed, not enough bookies).");

    public static readonly Histogram AddLatencySeconds = Metrics.CreateHistogram(
        "pulsarish_ledger_add_latency_seconds", "Time from AddAsync to completion.",
        new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.0001, 2, 18) });

    public static readonly Counter EnsembleChanges = Metrics.CreateCounter(
        "pulsarish_ledger_ensemble_changes_total", "Ensemble changes written to ledger metadata.");

    public static readonly Counter Recoveries = Metrics.CreateCounter(
        "pulsarish_ledger_recoveries_total", "Ledgers closed by open-with-recovery.");

    public static readonly Counter RecoveredEntries = Metrics.CreateCounter(
        "pulsarish_ledger_recovered_entries_total", "Entries rewritten by recovery.");

    public static readonly Counter Reads = Metrics.CreateCounter(
        "pulsarish_ledger_reads_total", "Entries read.");

    public static readonly Counter SpeculativeReads = Metrics.CreateCounter(
        "pulsarish_ledger_speculative_reads_total", "Reads sent to a further bookie after the speculative timeout or an error.");
}
