using System.Diagnostics;
using Pulsarish.Bookie.AutoRecovery;
using Pulsarish.Metadata;

namespace Pulsarish.AutoRecovery.Tests;

/// <summary>Task and lock rules of the under-replication manager, and the throttle (fast, embedded in-memory store).</summary>
[TestFixture]
public sealed class UnderReplicationManagerTests
{
    [Test]
    public async Task FilingTwiceMergesTheLostBookiesIntoOneTask()
    {
        await using var store = EmbeddedMetadataStore.CreateInMemory();
        var tasks = new UnderReplicationManager(store);
        Assert.That(await tasks.MarkUnderReplicatedAsync(7, ["b1"]), Is.True);
        Assert.That(await tasks.MarkUnderReplicatedAsync(7, ["b1"]), Is.False, "nothing new");
        Assert.That(await tasks.MarkUnderReplicatedAsync(7, ["b2"]), Is.True);
        var task = await tasks.GetAsync(7);
        Assert.That(task!.MissingBookies, Is.EquivalentTo(new[] { "b1", "b2" }));
        Assert.That(await tasks.ListAsync(), Is.EqualTo(new long[] { 7 }));
    }

    [Test]
    public async Task TaskExtendedWhileBeingReplicatedIsNotCompleted()
    {
        await using var store = EmbeddedMetadataStore.CreateInMemory();
        var tasks = new UnderReplicationManager(store);
        await tasks.MarkUnderReplicatedAsync(3, ["b1"]);
        var seen = await tasks.GetAsync(3);
        await tasks.MarkUnderReplicatedAsync(3, ["b2"]); // another bookie lost meanwhile
        Assert.That(await tasks.MarkReplicatedAsync(3, seen!.Version), Is.False);
        Assert.That(await tasks.GetAsync(3), Is.Not.Null, "the task stays for another round");
        var current = await tasks.GetAsync(3);
        Assert.That(await tasks.MarkReplicatedAsync(3, current!.Version), Is.True);
        Assert.That(await tasks.ListAsync(), Is.Empty);
    }

    [Test]
    public async Task LockIsExclusiveAndGoesWithItsHoldersSession()
    {
        await using var store = EmbeddedMetadataStore.CreateInMemory();
        var first = store.CreateSession();
        await using var second = store.CreateSession();
        var a = new UnderReplicationManager(first);
        var b = new UnderReplicationManager(second);
        Assert.That(await a.TryLockAsync(5, "a"), Is.True);
        Assert.That(await b.TryLockAsync(5, "b"), Is.False);
        await first.DisposeAsync(); // worker a dies: its ephemeral lock goes
        Assert.That(await b.TryLockAsync(5, "b"), Is.True);
        await b.ReleaseLockAsync(5);
        Assert.That(await b.TryLockAsync(5, "b"), Is.True);
    }

    [Test]
    public async Task TokenBucketBoundsTheRate()
    {
        var bucket = new TokenBucket(100);
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < 200; i++)
        {
            await bucket.TakeAsync(CancellationToken.None);
        }
        // 100 tokens of burst, then 100 more at 100/s.
        Assert.That(watch.Elapsed, Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(900)));
        Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)));
    }
}
