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
    bool DeduplicationEnabled,
    bool DelayedDeliveryEnabled = true)
{
    /// <summary>
    /// Resolves <paramref name="policies"/> against <paramref name="defaults"/>. Retention is a pair: when a namespace
    /// sets only one of time and size, the other is infinite (so the one set decides), not the broker default.
    /// </summary>
    public static EffectivePolicies Resolve(Policies policies, BrokerOptions defaults)
    {
        TimeSpan retentionTime;
        long retentionSize;
        if (policies.RetentionTimeMinutes is null && policies.RetentionSizeBytes is null)
        {
            retentionTime = defaults.DefaultRetentionTime;
            retentionSize = defaults.DefaultRetentionSizeBytes;
        }
        else
        {
            long minutes = policies.RetentionTimeMinutes ?? -1;
            retentionTime = minutes < 0 ? TimeSpan.FromTicks(-1) : TimeSpan.FromMinutes(minutes);
            retentionSize = policies.RetentionSizeBytes ?? -1;
        }
        return new EffectivePolicies(
            policies.EnsembleSize ?? defaults.ManagedLedgerDefaultEnsembleSize,
            policies.WriteQuorum ?? defaults.ManagedLedgerDefaultWriteQuorum,
            policies.AckQuorum ?? defaults.ManagedLedgerDefaultAckQuorum,
            retentionTime,
            retentionSize,
            policies.MessageTtlSeconds is { } ttl ? TimeSpan.FromSeconds(ttl) : defaults.DefaultMessageTtl,
            policies.MaxMessageSizeBytes ?? defaults.MaxMessageSizeBytes,
            policies.AllowAutoTopicCreation ?? defaults.AllowAutoTopicCreation,
            policies.DeduplicationEnabled ?? defaults.DeduplicationEnabled,
            policies.DelayedDeliveryEnabled ?? defaults.DelayedDeliveryEnabled);
    }
}
