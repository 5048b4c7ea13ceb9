using Pulsarish.Broker.Errors;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Admin;

/// <summary>
/// Policies of a namespace, stored as JSON at /admin/policies/&lt;tenant&gt;/&lt;namespace&gt; (DESIGN.md §6).
/// Null fields fall back to the broker's <see cref="BrokerOptions"/> defaults.
/// </summary>
public sealed class Policies
{
    /// <summary>Persistence: E, Qw, Qa of new ledgers.</summary>
    public int? EnsembleSize { get; set; }
    public int? WriteQuorum { get; set; }
    public int? AckQuorum { get; set; }

    /// <summary>Retention of acknowledged data by age, in minutes (negative: infinite).</summary>
    public long? RetentionTimeMinutes { get; set; }

    /// <summary>Retention of acknowledged data by size, in bytes (negative: infinite).</summary>
    public long? RetentionSizeBytes { get; set; }

    /// <summary>Message TTL in seconds (0: none).</summary>
    public long? MessageTtlSeconds { get; set; }

    /// <summary>Largest stored entry in bytes.</summary>
    public int? MaxMessageSizeBytes { get; set; }

    /// <summary>Whether an unknown topic is created on first use.</summary>
    public bool? AllowAutoTopicCreation { get; set; }

    /// <summary>Whether re-sent sequence ids are answered as duplicates.</summary>
    public bool? DeduplicationEnabled { get; set; }

    /// <summary>Whether Shared and Key_Shared subscriptions hold delayed messages until due (delayedDeliveryEnabled).</summary>
    public bool? DelayedDeliveryEnabled { get; set; }

    /// <summary>Number of namespace bundles (hash ranges of topic names) for ownership.</summary>
    public int? NumberOfBundles { get; set; }

    /// <summary>Throws <see cref="BrokerException"/> (BadRequest) for values out of range.</summary>
    public void Validate()
    {
        int? e = EnsembleSize, w = WriteQuorum, a = AckQuorum;
        if ((e ?? 1) < 1 || (w ?? 1) < 1 || (a ?? 1) < 1 || (e is not null && w is not null && w > e) || (w is not null && a is not null && a > w))
        {
            throw new BrokerException(ErrorReason.BadRequest, $"persistence needs E ≥ Qw ≥ Qa ≥ 1 (E={e} Qw={w} Qa={a})");
        }
        if (MessageTtlSeconds < 0)
        {
            throw new BrokerException(ErrorReason.BadRequest, "message TTL must be ≥ 0");
        }
        if (MaxMessageSizeBytes is < 1)
        {
            throw new BrokerException(ErrorReason.BadRequest, "max message size must be ≥ 1");
        }
        if (NumberOfBundles is < 1)
        {
            throw new BrokerException(ErrorReason.BadRequest, "number of bundles must be ≥ 1");
        }
        if ((RetentionTimeMinutes == 0) != (RetentionSizeBytes == 0) && RetentionTimeMinutes is not null && RetentionSizeBytes is not null)
        {
            throw new BrokerException(ErrorReason.BadRequest, "retention time and size cannot be 0 and non-zero (Pulsar's rule)");
        }
    }

    public Policies Clone() => (Policies)MemberwiseClone();
}
