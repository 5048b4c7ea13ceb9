namespace Pulsarish.Broker.Admin;

/// <summary>Namespace <see cref="Policies"/> resolved against the broker defaults: every value set.</summary>
public sealed record EffectivePolicies(
    int EnsembleSize,
    int WriteQuorum,
    int AckQuorum,
    TimeSpan RetentionTime,
    long RetentionSizeBytes,
    TimeSpan MessageTtl,
    int MaxMessageSizeBytes,
    bool AllowAutoTopicCreation,
    bool DeduplicationEnabled)
{
    /// <summary>Resolves <paramref name="policies"/> against <paramref name="defaults"/>.</summary>
    public static EffectivePolicies Resolve(Policies policies, BrokerOptions defaults)
    {
        long retentionMinutes = policies.RetentionTimeMinutes ?? (defaults.DefaultRetentionTime < TimeSpan.Zero
            ? -1 : (long)defaults.DefaultRetentionTime.TotalMinutes);
        return new EffectivePolicies(
            policies.EnsembleSize ?? defaults.ManagedLedgerDefaultEnsembleSize,
            policies.WriteQuorum ?? defaults.ManagedLedgerDefaultWriteQuorum,
            policies.AckQuorum ?? defaults.ManagedLedgerDefaultAckQuorum,
            policies.RetentionTimeMinutes is null ? defaults.DefaultRetentionTime
                : retentionMinutes < 0 ? TimeSpan.FromTicks(-1) : TimeSpan.FromMinutes(retentionMinutes),
            policies.RetentionSizeBytes ?? defaults.DefaultRetentionSizeBytes,
            policies.MessageTtlSeconds is { } ttl ? TimeSpan.FromSeconds(ttl) : defaults.DefaultMessageTtl,
            policies.MaxMessageSizeBytes ?? defaults.MaxMessageSizeBytes,
            policies.AllowAutoTopicCreation ?? defaults.AllowAutoTopicCreation,
            policies.DeduplicationEnabled ?? defaults.DeduplicationEnabled);
    }
}
