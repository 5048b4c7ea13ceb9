using System.Text;
using Pulsarish.Bookie.AutoRecovery;
using Pulsarish.Protocol.Errors;
using Pulsarish.Ledgers;
using Pulsarish.Metadata;
using Pulsarish.Protocol.Metadata;

namespace Pulsarish.AutoRecovery.Tests;

/// <summary>Replication workers with in-process bookies: lock exclusivity, open ledgers of dead writers (DESIGN.md §7).</summary>
[TestFixture]
[NonParallelizable]
public sealed class ReplicationWorkerTests
{
    [Test]
    public async Task TwoWorkersRacingOnTheSameTasksCopyEachFragmentOnce()
    {
        await using var cluster = await RecoveryCluster.StartAsync();
        for (int i = 0; i < 4; i++)
        {
            await cluster.StartInProcessBookieAsync($"b{i}");
        }
        var client = cluster.NewClient();
        var ledgers = new List<(long Id, List<string> Payloads)>();
        for (int i = 0; i < 4; i++)
        {
            var (id, payloads, _) = await cluster.WriteLedgerAsync(client, 3, 2, 2, 50);
            ledgers.Add((id, payloads));
        }
        string victim = (await cluster.Ledgers.ReadAsync(ledgers[0].Id))!.Value.Metadata.Fragments[0].Bookies[2];

        // The lock itself: of two sessions racing for it, exactly one wins.
        await using (var otherSession = await MetadataStoreFactory.CreateAsync(cluster.Url, null, RecoveryCluster.SessionTimeout))
        {
            var other = new UnderReplicationManager(otherSession);
            var race = await Task.WhenAll(cluster.Tasks.TryLockAsync(ledgers[0].Id, "one"), other.TryLockAsync(ledgers[0].Id, "two"));
            Assert.That(race.Count(won => won), Is.EqualTo(1), "exactly one lock holder");
        }
        await cluster.Tasks.ReleaseLockAsync(ledgers[0].Id);

        // Entries the victim holds: what must be copied, exactly once in total.
        var expectedCopies = new Dictionary<long, long>();
        foreach (var (id, _) in ledgers)
        {
            var m = (await cluster.Ledgers.ReadAsync(id))!.Value.Metadata;
            int index = m.Fragments[0].Bookies.IndexOf(victim);
            long copies = 0;
            for (long e = 0; index >= 0 && e <= m.LastEntryId; e++)
            {
                copies += WriteSet.Contains(e, index, m.EnsembleSize, m.WriteQuorum) ? 1 : 0;
            }
            expectedCopies[id] = copies;
        }
        await cluster.StopInProcessBookieAsync(victim);

        var options = RecoveryCluster.FastOptions(TimeSpan.FromMinutes(5)); // only the tasks filed below
        options.MaxEntriesPerSecond = 100; // each ledger takes a while: the other worker finds it locked
        var workers = new[]
        {
            await cluster.StartAutoRecoveryAsync("w1", options),
            await cluster.StartAutoRecoveryAsync("w2", options),
        };
        // One task, two workers woken by the same notification.
        await cluster.Tasks.MarkUnderReplicatedAsync(ledgers[0].Id, [victim]);
        await RecoveryCluster.WaitUntilAsync(async () => (await cluster.Tasks.ListAsync()).Count == 0,
            TimeSpan.FromSeconds(30), "the single task done");
        TestContext.Progress.WriteLine($"skipped as locked: w1 {workers[0].Worker.LockedByOthers}, w2 {workers[1].Worker.LockedByOthers}");
        Assert.That(workers.Sum(w => w.Metrics.ReplicatedEntries.Value), Is.EqualTo(expectedCopies[ledgers[0].Id]),
            "each lost copy made once: never two workers on one ledger");
        Assert.That(workers.Sum(w => w.Worker.CompletedLedgers), Is.EqualTo(1));
        await cluster.AssertFullyReplicatedAsync(ledgers[0].Id, ledgers[0].Payloads);

        // The rest through the admin's recover: all tasks at once, both workers busy.
        IReadOnlyList<long> filed;
        await using (var admin = new BookieRecoveryAdmin(cluster.Store))
        {
            filed = await admin.RecoverBookieAsync(victim);
        }
        Assert.That(filed, Does.Not.Contain(ledgers[0].Id), "ledger 0 no longer references the victim");
        await RecoveryCluster.WaitUntilAsync(async () => (await cluster.Tasks.ListAsync()).Count == 0
            && !await cluster.AnyLedgerReferencesAsync(victim), TimeSpan.FromSeconds(40), "tasks done by the two workers");

        double copied = workers.Sum(w => w.Metrics.ReplicatedEntries.Value);
        Assert.That(copied, Is.EqualTo(expectedCopies.Values.Sum()), "each lost copy made once");
        Assert.That(workers.Sum(w => w.Worker.CompletedLedgers), Is.EqualTo(filed.Count + 1), "each task completed once");
        foreach (var (id, payloads) in ledgers)
        {
            await cluster.AssertFullyReplicatedAsync(id, payloads);
        }
    }

    [Test]
    public async Task OpenLedgerOfADeadWriterIsFencedAfterTheGracePeriodAndReReplicated()
    {
        await using var cluster = await RecoveryCluster.StartAsync();
        for (int i = 0; i < 4; i++)
        {
            await cluster.StartInProcessBookieAsync($"b{i}");
        }
        var writerClient = cluster.NewClient();
        var (ledgerId, payloads, writer) = await cluster.WriteLedgerAsync(writerClient, 3, 2, 2, 30, close: false);
        string victim = writer.Metadata.Fragments[0].Bookies[0];
        await cluster.StopInProcessBookieAsync(victim);

        var options = RecoveryCluster.FastOptions(TimeSpan.FromMilliseconds(300));
        options.OpenLedgerRereplicationGracePeriod = TimeSpan.FromSeconds(3);
        await cluster.StartAutoRecoveryAsync("ar", options);
        UnderReplicatedLedger? task = null;
        await RecoveryCluster.WaitUntilAsync(async () => (task = await cluster.Tasks.GetAsync(ledgerId)) is not null,
            TimeSpan.FromSeconds(20), "task filed");
        Assert.That((await cluster.Ledgers.ReadAsync(ledgerId))!.Value.Metadata.State, Is.EqualTo(LedgerState.Open),
            "the open tail is left to its writer at first");

        await RecoveryCluster.WaitUntilAsync(async () => (await cluster.Tasks.ListAsync()).Count == 0
            && (await cluster.Ledgers.ReadAsync(ledgerId))!.Value.Metadata.State == LedgerState.Closed,
            TimeSpan.FromSeconds(40), "ledger fenced, closed and re-replicated");
        var closedAt = DateTimeOffset.UtcNow;
        Assert.That(closedAt - DateTimeOffset.FromUnixTimeMilliseconds(task!.CreatedMillis),
            Is.GreaterThanOrEqualTo(options.OpenLedgerRereplicationGracePeriod - TimeSpan.FromMilliseconds(200)), "not before the grace period");
        Assert.That(await cluster.AnyLedgerReferencesAsync(victim), Is.False);
        await cluster.AssertFullyReplicatedAsync(ledgerId, payloads);

        // The dead writer (here: a stale handle) can no longer get an add acknowledged.
        Assert.ThrowsAsync<LedgerFencedException>(async () =>
            await writer.AddAsync(Encoding.UTF8.GetBytes("late")).WaitAsync(TimeSpan.FromSeconds(20)));
    }
}
