namespace Pulsarish.Broker.Topics;

/// <summary>Settings of one managed ledger, resolved from <see cref="BrokerOptions"/> and namespace policies.</summary>
public sealed record ManagedLedgerConfig
{
    public int EnsembleSize { get; init; } = 2;
    public int WriteQuorum { get; init; } = 2;
    public int AckQuorum { get; init; } = 2;
    public long MaxEntriesPerLedger { get; init; } = 50_000;
    public long MaxSizePerLedgerBytes { get; init; } = 2048L * 1024 * 1024;
    public TimeSpan MinLedgerRolloverTime { get; init; } = TimeSpan.FromMinutes(10);
    public TimeSpan MaxLedgerRolloverTime { get; init; } = TimeSpan.FromMinutes(240);
    public long CursorMaxEntriesPerLedger { get; init; } = 50_000;
    public TimeSpan CursorPersistInterval { get; init; } = TimeSpan.FromSeconds(1);
    public int MaxUnackedRangesToPersist { get; init; } = 10_000;
}
