using System.Diagnostics;

namespace Pulsarish.Client;

/// <summary>
/// One-shot millisecond timers with ~1 ms accuracy for latency-critical deadlines (a producer's batching delay).
/// <see cref="System.Threading.Timer"/> and <c>Task.Delay</c> fire 3–4 ms late for a 1 ms due time on the Linux
/// machines we run on (their wait rounds up to the scheduler tick), which turns a 1 ms batching window into a 4 ms
/// publish latency floor. This timer keeps the due callbacks in a priority queue served by one dedicated thread that
/// sleeps on an <see cref="AutoResetEvent"/> (woken ~0.1 ms after the requested millisecond) and runs each callback
/// inline on that thread, so callbacks must be short and must not block (take a lock, queue work, return).
/// </summary>
public sealed class DeadlineTimer : IDisposable
{
    private static readonly Lazy<DeadlineTimer> SharedInstance = new(() => new DeadlineTimer("pulsarish-deadline-timer"));

    private readonly PriorityQueue<Scheduled, long> _due = new();
    private readonly AutoResetEvent _wake = new(false);
    private readonly Thread _thread;
    private readonly object _lock = new();
    private long _earliestTimestamp = long.MaxValue;
    private bool _disposed;

    /// <summary>Starts a timer thread (background, so it never keeps a process alive).</summary>
    public DeadlineTimer(string threadName)
    {
        _thread = new Thread(Run) { IsBackground = true, Name = threadName };
        _thread.Start();
    }

    /// <summary>The process-wide instance.</summary>
    public static DeadlineTimer Shared => SharedInstance.Value;

    private readonly record struct Scheduled(Action<object?> Callback, object? State);

    /// <summary>
    /// Runs <paramref name="callback"/>(<paramref name="state"/>) on the timer thread once <paramref name="delay"/> has
    /// passed. Scheduling does not allocate beyond the queue's growth; there is no cancel, so a callback must tolerate
    /// firing after the work it was armed for was done by other means.
    /// </summary>
    public void Schedule(TimeSpan delay, Action<object?> callback, object? state)
    {
        ArgumentNullException.ThrowIfNull(callback);
        long dueTimestamp = Stopwatch.GetTimestamp() + (long)(Math.Max(0, delay.TotalSeconds) * Stopwatch.Frequency);
        bool wake;
        lock (_lock)
        {
            ObjectDisposedException.ThrowIf(_disposed, this);
            _due.Enqueue(new Scheduled(callback, state), dueTimestamp);
            wake = dueTimestamp < _earliestTimestamp;
            if (wake)
            {
                _earliestTimestamp = dueTimestamp;
            }
        }

        if (wake)
        {
            _wake.Set();
        }
    }

    private void Run()
    {
        while (true)
        {
            Scheduled next = default;
            bool fire = false;
            int waitMillis;
            lock (_lock)
            {
                if (_disposed)
                {
                    return;
                }

                if (_due.TryPeek(out var scheduled, out long dueTimestamp))
                {
                    long remaining = dueTimestamp - Stopwatch.GetTimestamp();
                    if (remaining <= 0)
                    {
                        _due.Dequeue();
                        next = scheduled;
                        fire = true;
                        waitMillis = 0;
                    }
                    else
                    {
                        // Whole milliseconds, rounded up: the wait never ends before the deadline.
                        waitMillis = (int)Math.Min(int.MaxValue, (remaining * 1000 + Stopwatch.Frequency - 1) / Stopwatch.Frequency);
                    }

                    _earliestTimestamp = _due.TryPeek(out _, out long earliest) ? earliest : long.MaxValue;
                }
                else
                {
                    _earliestTimestamp = long.MaxValue;
                    waitMillis = Timeout.Infinite;
                }
            }

            if (fire)
            {
                try
                {
                    next.Callback(next.State);
                }
                catch (Exception ex)
                {
                    Debug.Fail($"deadline timer callback threw: {ex}");
                }

                continue;
            }

            _wake.WaitOne(waitMillis);
        }
    }

    /// <summary>Stops the thread; callbacks not yet due never run.</summary>
    public void Dispose()
    {
        lock (_lock)
        {
            if (_disposed)
            {
                return;
            }

            _disposed = true;
        }

        _wake.Set();
        _thread.Join();
        _wake.Dispose();
    }
}
