using System.Collections.Concurrent;
using System.Diagnostics;
using Pulsarish.Client;

namespace Pulsarish.Client.Tests;

[TestFixture]
public sealed class DeadlineTimerTests
{
    [Test]
    public void CallbacksRunInDeadlineOrderAndNeverBeforeTheirDeadline()
    {
        using var timer = new DeadlineTimer("test-deadline-timer");
        var fired = new ConcurrentQueue<(int Id, long ElapsedTicks)>();
        using var all = new CountdownEvent(4);
        var clock = Stopwatch.StartNew();
        int[] delaysMillis = [40, 10, 30, 20];
        for (int i = 0; i < delaysMillis.Length; i++)
        {
            int id = i;
            timer.Schedule(TimeSpan.FromMilliseconds(delaysMillis[i]), _ =>
            {
                fired.Enqueue((id, clock.ElapsedTicks));
                all.Signal();
            }, null);
        }

        Assert.That(all.Wait(TimeSpan.FromSeconds(10)), Is.True, "every callback fires");
        var order = fired.ToArray();
        Assert.That(order.Select(f => f.Id), Is.EqualTo(new[] { 1, 3, 2, 0 }), "earliest deadline first");
        foreach (var (id, elapsedTicks) in order)
        {
            Assert.That(TimeSpan.FromSeconds((double)elapsedTicks / Stopwatch.Frequency),
                Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(delaysMillis[id])), $"callback {id} not early");
        }
    }

    [Test]
    public void AnEarlierDeadlineScheduledLaterWakesTheTimer()
    {
        using var timer = new DeadlineTimer("test-deadline-timer");
        using var late = new ManualResetEventSlim();
        using var early = new ManualResetEventSlim();
        timer.Schedule(TimeSpan.FromMinutes(10), _ => late.Set(), null);
        Thread.Sleep(20); // the timer thread is now asleep until the 10-minute deadline
        timer.Schedule(TimeSpan.FromMilliseconds(5), _ => early.Set(), null);

        Assert.That(early.Wait(TimeSpan.FromSeconds(10)), Is.True, "the new earliest deadline is served");
        Assert.That(late.IsSet, Is.False);
    }

    [Test]
    public void StateIsPassedAndDisposeDropsWhatIsNotDue()
    {
        var timer = new DeadlineTimer("test-deadline-timer");
        object? seen = null;
        using var done = new ManualResetEventSlim();
        var state = new object();
        timer.Schedule(TimeSpan.Zero, s =>
        {
            seen = s;
            done.Set();
        }, state);
        Assert.That(done.Wait(TimeSpan.FromSeconds(10)), Is.True);
        Assert.That(seen, Is.SameAs(state));

        bool lateFired = false;
        timer.Schedule(TimeSpan.FromMinutes(10), _ => lateFired = true, null);
        timer.Dispose();
        Assert.That(lateFired, Is.False);
        Assert.Throws<ObjectDisposedException>(() => timer.Schedule(TimeSpan.Zero, _ => { }, null));
    }
}
