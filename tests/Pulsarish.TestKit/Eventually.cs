using System.Diagnostics;

namespace Pulsarish.TestKit;

/// <summary>
/// Waits for a condition that becomes true asynchronously, instead of hand-written poll loops. The condition is
/// polled (first at once, then every <see cref="DefaultPollInterval"/> unless told) until it holds or the timeout
/// passes; on timeout the test fails with <c>because</c> and the elapsed time. Exceptions thrown by the condition
/// propagate.
/// </summary>
public static class Eventually
{
    /// <summary>Poll interval when none is given.</summary>
    public static readonly TimeSpan DefaultPollInterval = TimeSpan.FromMilliseconds(20);

    /// <summary>Fails the test unless <paramref name="condition"/> holds within <paramref name="timeout"/>.</summary>
    public static Task That(Func<bool> condition, TimeSpan timeout, string because, TimeSpan? pollInterval = null)
    {
        ArgumentNullException.ThrowIfNull(condition);
        return That(() => Task.FromResult(condition()), timeout, because, pollInterval);
    }

    /// <summary>Fails the test unless <paramref name="condition"/> holds within <paramref name="timeout"/>.</summary>
    public static async Task That(Func<Task<bool>> condition, TimeSpan timeout, string because, TimeSpan? pollInterval = null)
    {
        if (!await Until(condition, timeout, pollInterval).ConfigureAwait(false))
        {
            Assert.Fail($"not true within {timeout.TotalSeconds:0.###} s: {because}");
        }
    }

    /// <summary>Polls until <paramref name="condition"/> holds (true) or <paramref name="timeout"/> passes (false).</summary>
    public static Task<bool> Until(Func<bool> condition, TimeSpan timeout, TimeSpan? pollInterval = null)
    {
        ArgumentNullException.ThrowIfNull(condition);
        return Until(() => Task.FromResult(condition()), timeout, pollInterval);
    }

    /// <summary>Polls until <paramref name="condition"/> holds (true) or <paramref name="timeout"/> passes (false).</summary>
    public static async Task<bool> Until(Func<Task<bool>> condition, TimeSpan timeout, TimeSpan? pollInterval = null)
    {
        ArgumentNullException.ThrowIfNull(condition);
        var interval = pollInterval ?? DefaultPollInterval;
        var watch = Stopwatch.StartNew();
        while (true)
        {
            if (await condition().ConfigureAwait(false))
            {
                return true;
            }
            if (watch.Elapsed >= timeout)
            {
                return false;
            }
            await Task.Delay(interval).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Polls <paramref name="probe"/> until its value satisfies <paramref name="condition"/>, and returns that value;
    /// fails the test with <paramref name="because"/> and the last value seen on timeout.
    /// </summary>
    public static async Task<T> Returns<T>(Func<Task<T>> probe, Func<T, bool> condition, TimeSpan timeout, string because,
        TimeSpan? pollInterval = null)
    {
        ArgumentNullException.ThrowIfNull(probe);
        ArgumentNullException.ThrowIfNull(condition);
        T last = default!;
        bool met = await Until(async () =>
        {
            last = await probe().ConfigureAwait(false);
            return condition(last);
        }, timeout, pollInterval).ConfigureAwait(false);
        if (!met)
        {
            Assert.Fail($"not true within {timeout.TotalSeconds:0.###} s: {because} (last value: {last})");
        }
        return last;
    }
}
