using System.Diagnostics;

namespace Pulsarish.Bookie.AutoRecovery;

/// <summary>
/// A token bucket bounding a rate (re-replicated entries per second): up to one second of tokens may accumulate.
/// Thread-safe; waiters are served in no particular order.
/// </summary>
public sealed class TokenBucket
{
    private readonly double _ratePerSecond;
    private readonly double _capacity;
    private readonly object _lock = new();
    private double _tokens;
    private long _lastTimestamp;

    public TokenBucket(int ratePerSecond)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(ratePerSecond, 1);
        _ratePerSecond = ratePerSecond;
        _capacity = ratePerSecond;
        _tokens = ratePerSecond;
        _lastTimestamp = Stopwatch.GetTimestamp();
    }

    /// <summary>Takes one token, waiting until one is available.</summary>
    public async ValueTask TakeAsync(CancellationToken ct)
    {
        while (true)
        {
            TimeSpan wait;
            lock (_lock)
            {
                long now = Stopwatch.GetTimestamp();
                _tokens = Math.Min(_capacity, _tokens + Stopwatch.GetElapsedTime(_lastTimestamp, now).TotalSeconds * _ratePerSecond);
                _lastTimestamp = now;
                if (_tokens >= 1)
                {
                    _tokens -= 1;
                    return;
                }
                wait = TimeSpan.FromSeconds((1 - _tokens) / _ratePerSecond);
            }
            await Task.Delay(wait < TimeSpan.FromMilliseconds(1) ? TimeSpan.FromMilliseconds(1) : wait, ct).ConfigureAwait(false);
        }
    }
}
