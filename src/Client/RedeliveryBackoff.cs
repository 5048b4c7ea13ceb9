namespace Pulsarish.Client;

/// <summary>
/// Exponential redelivery delay (Pulsar's <c>MultiplierRedeliveryBackoff</c>): a message redelivered <c>n</c> times
/// before waits <c>min(MaxDelay, MinDelay · Multiplierⁿ)</c>. Defaults are Pulsar's (1 s, 60 s, 2).
/// </summary>
public sealed class RedeliveryBackoff
{
    public TimeSpan MinDelay { get; init; } = TimeSpan.FromSeconds(1);

    public TimeSpan MaxDelay { get; init; } = TimeSpan.FromSeconds(60);

    public double Multiplier { get; init; } = 2;

    /// <summary>The delay before redelivering a message whose redelivery count is <paramref name="redeliveryCount"/>.</summary>
    public TimeSpan Next(int redeliveryCount)
    {
        double millis = MinDelay.TotalMilliseconds * Math.Pow(Multiplier, Math.Max(0, redeliveryCount));
        return double.IsFinite(millis) && millis < MaxDelay.TotalMilliseconds ? TimeSpan.FromMilliseconds(millis) : MaxDelay;
    }

    internal Protocol.Broker.RedeliveryBackoffPolicy ToProto() => new()
    {
        MinDelayMillis = (long)MinDelay.TotalMilliseconds,
        MaxDelayMillis = (long)MaxDelay.TotalMilliseconds,
        Multiplier = Multiplier,
    };

    internal void Validate(string name)
    {
        if (MinDelay < TimeSpan.Zero || MaxDelay < MinDelay || !(Multiplier >= 1) || double.IsInfinity(Multiplier))
        {
            throw new ArgumentException($"{name}: needs 0 ≤ MinDelay ≤ MaxDelay and a finite Multiplier ≥ 1", name);
        }
    }
}
