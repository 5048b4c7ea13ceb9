namespace Pulsarish.Cli;

/// <summary>Result of a perf run (latencies in milliseconds).</summary>
public sealed record PerfSummary(string What, long Messages, long Errors, double Seconds, double MessagesPerSecond,
    double MegabytesPerSecond, double MeanMillis, double P50Millis, double P95Millis, double P99Millis,
    double P999Millis, double P9999Millis, double MaxMillis);
