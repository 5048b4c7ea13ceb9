namespace Pulsarish.Broker.Dispatch;

/// <summary>
/// Exponential redelivery delay (Pulsar's MultiplierRedeliveryBackoff): an entry redelivered <c>n</c> times before
/// waits <c>min(MaxDelay, MinDelay · Multiplierⁿ)</c>. Immutable.
/// </summary>
public sealed record RedeliveryBackoff(TimeSpan MinDelay, TimeSpan MaxDelay, double Multiplier)
{
    /// <summary>The delay before the redelivery of an entry already redelivered <paramref name="redeliveryCount"/> times.</summary>
    public TimeSpan Next(int redeliveryCount)
    {
        if (MinDelay <= TimeSpan.Zero)
        {
            return TimeSpan.Zero;
        }
        double millis = MinDelay.TotalMilliseconds * Math.Pow(Multiplier, Math.Max(0, redeliveryCount));
        return double.IsFinite(millis) && millis < MaxDelay.TotalMilliseconds ? TimeSpan.FromMilliseconds(millis) : MaxDelay;
    }
}
