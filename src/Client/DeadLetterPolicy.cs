namespace Pulsarish.Client;

/// <summary>
/// Where messages go that failed too often (Pulsar's <c>DeadLetterPolicy</c>). A message negatively acknowledged (or
/// timed out) once more after <see cref="MaxRedeliverCount"/> redeliveries — so after 1 + MaxRedeliverCount real
/// deliveries — is written to <see cref="DeadLetterTopic"/> and then acknowledged; with
/// <see cref="ConsumerOptions.EnableRetry"/>, <see cref="Consumer.ReconsumeLaterAsync"/> sends it to
/// <see cref="RetryLetterTopic"/> up to MaxRedeliverCount times, then to the dead-letter topic.
/// </summary>
public sealed class DeadLetterPolicy
{
    /// <summary>Redeliveries (or reconsumes) allowed before the dead-letter topic; at least 1.</summary>
    public int MaxRedeliverCount { get; init; }

    /// <summary>Null: <c>&lt;topic&gt;-&lt;subscription&gt;-DLQ</c>.</summary>
    public string? DeadLetterTopic { get; init; }

    /// <summary>Null: <c>&lt;topic&gt;-&lt;subscription&gt;-RETRY</c>.</summary>
    public string? RetryLetterTopic { get; init; }

    /// <summary>Pulsar's RetryMessageUtil.MAX_RECONSUMETIMES: the limit when retry is on without a policy.</summary>
    internal const int DefaultMaxReconsumeTimes = 16;

    internal void Validate()
    {
        if (MaxRedeliverCount < 1)
        {
            throw new ArgumentException("DeadLetterPolicy.MaxRedeliverCount must be ≥ 1", nameof(MaxRedeliverCount));
        }
    }
}
