using System.Diagnostics;
using Pulsarish.Broker.Dispatch;
using Pulsarish.Broker.Topics;
using Pulsarish.TestKit;

namespace Pulsarish.Broker.Tests;

/// <summary>
/// The delayed-delivery tracker on its real spill files: entries come back in delivery-time order, each once, never
/// before its time, and the memory it holds stays within its bound however many entries it tracks.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class DelayedDeliveryTrackerTests
{
    [Test]
    public void EntriesComeBackOnceInTimeOrderAndNeverEarlyAcrossSpilledRuns()
    {
        int seed = TestSeed.Use();
        var random = new Random(seed);
        using var dir = new TempDir("delayed-tracker");
        // A tiny bound: most entries go through sealed runs, and runs are merged.
        using var tracker = new DelayedDeliveryTracker(maxIndexedMessages: 64, dir.Path, segmentEntries: 7, maxRuns: 3);
        const int count = 5_000;
        var deliverAt = new long[count];
        for (int i = 0; i < count; i++)
        {
            deliverAt[i] = random.NextInt64(1_000, 60_000);
            tracker.Add(new Position(1 + i / 1000, i % 1000), deliverAt[i]);
        }
        Assert.That(tracker.Count, Is.EqualTo(count));
        Assert.That(tracker.SpilledRuns, Is.InRange(1, 3), "runs are sealed and merged within the bound");

        var seen = new bool[count];
        var due = new List<Position>();
        long last = 0;
        for (long now = 0; now <= 61_000; now += random.Next(1, 700))
        {
            due.Clear();
            tracker.TakeDue(now, random.Next(1, 200), due);
            foreach (var p in due)
            {
                int i = (int)((p.LedgerId - 1) * 1000 + p.EntryId);
                Assert.That(seen[i], Is.False, $"{p} came back twice ({TestSeed.Describe(seed)})");
                seen[i] = true;
                Assert.That(deliverAt[i], Is.LessThanOrEqualTo(now), $"{p} came back before its time ({TestSeed.Describe(seed)})");
                Assert.That(deliverAt[i], Is.GreaterThanOrEqualTo(last), $"{p} out of time order ({TestSeed.Describe(seed)})");
                last = deliverAt[i];
            }
            if (due.Count > 0)
            {
                Assert.That(tracker.Count == 0 || tracker.NextDeliverAtMillis >= last, $"next due is the earliest ({TestSeed.Describe(seed)})");
            }
        }
        due.Clear();
        tracker.TakeDue(long.MaxValue - 1, int.MaxValue, due);
        Assert.That(seen.Count(s => !s) - due.Count, Is.Zero, $"every entry came back ({TestSeed.Describe(seed)})");
        Assert.That(tracker.Count, Is.Zero);
        Assert.That(tracker.NextDeliverAtMillis, Is.EqualTo(long.MaxValue));
    }

    [Test]
    public void ClearDropsEverythingIncludingSpilledRuns()
    {
        using var dir = new TempDir("delayed-tracker");
        using var tracker = new DelayedDeliveryTracker(maxIndexedMessages: 10, dir.Path, segmentEntries: 4, maxRuns: 2);
        for (int i = 0; i < 100; i++)
        {
            tracker.Add(new Position(3, i), 1000 - i);
        }
        Assert.That(tracker.SpilledRuns, Is.GreaterThan(0));
        tracker.Clear();
        Assert.That(tracker.Count, Is.Zero);
        Assert.That(tracker.SpilledRuns, Is.Zero);
        var due = new List<Position>();
        Assert.That(tracker.TakeDue(long.MaxValue - 1, 1000, due), Is.Zero);
        Assert.That(Directory.GetFiles(dir.Path), Is.Empty, "sealed runs leave no file behind (unlinked at creation)");
    }

    /// <summary>
    /// 1,000,000 delayed entries with a bound of 100,000 indexed in memory: the memory the tracker holds, measured as
    /// the growth of the managed heap after a full collection, stays within its computed bound (plus slack), far below
    /// the 24 MB an unbounded packed index would need. Figures are recorded in bench/RESULTS.md.
    /// </summary>
    [Test]
    public void MemoryStaysWithinItsBoundWithAMillionDelayedMessages()
    {
        int seed = TestSeed.Use();
        var random = new Random(seed);
        using var dir = new TempDir("delayed-tracker");
        const int count = 1_000_000;
        const int maxIndexed = 100_000, segment = 5_000, maxRuns = 16;
        long boundBytes = (long)(maxIndexed + (maxRuns + 1) * segment) * 24;
        var deliverAt = new long[count];
        for (int i = 0; i < count; i++)
        {
            deliverAt[i] = random.NextInt64(1, 30_000_000);
        }

        long before = GC.GetTotalMemory(forceFullCollection: true);
        var watch = Stopwatch.StartNew();
        var tracker = new DelayedDeliveryTracker(maxIndexed, dir.Path, segment, maxRuns);
        long peakAccounted = 0, peakMeasured = 0;
        for (int i = 0; i < count; i++)
        {
            tracker.Add(new Position(10 + i / 50_000, i % 50_000), deliverAt[i]);
            if ((i & 0x3FFF) == 0)
            {
                peakAccounted = Math.Max(peakAccounted, tracker.AllocatedBytes);
            }
            if (i % 100_000 == 99_999)
            {
                peakMeasured = Math.Max(peakMeasured, GC.GetTotalMemory(forceFullCollection: true) - before);
            }
        }
        double addSeconds = watch.Elapsed.TotalSeconds;
        long after = GC.GetTotalMemory(forceFullCollection: true);
        long measured = Math.Max(peakMeasured, after - before);
        peakAccounted = Math.Max(peakAccounted, tracker.AllocatedBytes);
        TestContext.Out.WriteLine($"1,000,000 delayed entries: managed heap growth {measured:N0} B at most (measured every 100,000 adds), tracker accounts {tracker.AllocatedBytes:N0} B " +
            $"(peak {peakAccounted:N0} B), bound {boundBytes:N0} B, {tracker.SpilledRuns} runs, adds {count / addSeconds:N0}/s");

        Assert.That(tracker.Count, Is.EqualTo(count));
        Assert.That(peakAccounted, Is.LessThanOrEqualTo(boundBytes), "the tracker's own accounting stays within its bound");
        Assert.That(measured, Is.LessThan(boundBytes * 3 / 2 + 1_000_000),
            "measured heap growth stays within the bound (generous slack); an unbounded index would hold 24 MB");

        // And it still gives every entry back in time order, never one before its time.
        var due = new List<Position>(segment);
        long last = 0, taken = 0;
        watch.Restart();
        while (tracker.Count > 0)
        {
            due.Clear();
            long next = tracker.NextDeliverAtMillis + 10_000;
            tracker.TakeDue(next, segment, due);
            Assert.That(due, Is.Not.Empty);
            foreach (var p in due)
            {
                long at = deliverAt[(int)((p.LedgerId - 10) * 50_000 + p.EntryId)];
                if (at > next || at < last)
                {
                    Assert.Fail($"{p} due at {at} came back out of time order (now {next}, last {last}; {TestSeed.Describe(seed)})");
                }
                last = at;
            }
            taken += due.Count;
        }
        TestContext.Out.WriteLine($"taken back {taken:N0} in {watch.Elapsed.TotalSeconds:F2} s");
        Assert.That(taken, Is.EqualTo(count));
        tracker.Dispose();
        GC.KeepAlive(deliverAt);
    }
}
