using System.Text;
using Pulsarish.Ledgers;
using Pulsarish.Metadata;

namespace Pulsarish.AutoRecovery.Tests;

/// <summary>
/// Real <c>pulsarish bookie</c> processes registered in ZooKeeper, killed with SIGKILL by PID: lost copies come back,
/// a quick restart files nothing, an empty disk under a known id is refused (DESIGN.md §6-§7).
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class BookieKillTests
{
    [Test]
    public async Task LedgersOfAKilledBookieReturnToWriteQuorumCopies()
    {
        await using var cluster = await RecoveryCluster.StartAsync();
        // AutoRecovery runs inside the bookie processes (auditor candidate + worker in each).
        await Task.WhenAll(Enumerable.Range(0, 4).Select(i => cluster.StartProcessBookieAsync($"b{i}", autoRecovery: true)));
        var client = cluster.NewClient();
        var ledgers = new List<(long Id, List<string> Payloads)>();
        foreach (var (e, qw, qa) in new[] { (3, 2, 2), (3, 3, 2), (3, 2, 2), (3, 3, 2) })
        {
            var (id, payloads, _) = await cluster.WriteLedgerAsync(client, e, qw, qa, 60);
            ledgers.Add((id, payloads));
        }
        var first = (await cluster.Ledgers.ReadAsync(ledgers[1].Id))!.Value.Metadata;
        string victim = first.Fragments[0].Bookies[1];
        // A live writer on an open ledger that includes the victim keeps writing through the kill.
        LedgerHandle writer;
        do
        {
            writer = await client.CreateLedgerAsync(3, 2, 2);
        }
        while (!writer.Metadata.Fragments[0].Bookies.Contains(victim));
        var writerPayloads = new List<string>();
        async Task WriteAsync(int count)
        {
            for (int i = 0; i < count; i++)
            {
                string payload = $"live-{writerPayloads.Count}";
                await writer.AddAsync(Encoding.UTF8.GetBytes(payload)).WaitAsync(TimeSpan.FromSeconds(30));
                writerPayloads.Add(payload);
            }
        }
        await WriteAsync(30);

        TestContext.Progress.WriteLine($"killing {victim} (pid {cluster.Process(victim).Pid})");
        cluster.Process(victim).Kill9();
        await WriteAsync(30); // ensemble change: the victim's fragment ends
        await writer.CloseAsync();
        ledgers.Add((writer.LedgerId, writerPayloads));

        await RecoveryCluster.WaitUntilAsync(async () => !await cluster.AnyLedgerReferencesAsync(victim)
            && (await cluster.Tasks.ListAsync()).Count == 0, TimeSpan.FromSeconds(60), $"no ledger on {victim}, no task left");
        foreach (var (id, payloads) in ledgers)
        {
            await cluster.AssertFullyReplicatedAsync(id, payloads);
        }
    }

    [Test]
    public async Task BookieRestartedWithinTheLostBookieDelayFilesNoTask()
    {
        await using var cluster = await RecoveryCluster.StartAsync();
        await Task.WhenAll(Enumerable.Range(0, 3).Select(i => cluster.StartProcessBookieAsync($"b{i}", autoRecovery: false)));
        var client = cluster.NewClient();
        var (ledgerId, payloads, _) = await cluster.WriteLedgerAsync(client, 3, 2, 2, 30);
        var autoRecovery = await cluster.StartAutoRecoveryAsync("ar", RecoveryCluster.FastOptions(TimeSpan.FromSeconds(10)));
        await RecoveryCluster.WaitUntilAsync(() => Task.FromResult(autoRecovery.IsAuditor), TimeSpan.FromSeconds(10), "auditor elected");

        var bookie = cluster.Process("b1");
        bookie.Kill9();
        // The killed session's registration lasts until it expires; the auditor sees the bookie gone.
        await RecoveryCluster.WaitUntilAsync(() => Task.FromResult(autoRecovery.Auditor.MissingBookies.Contains("b1")),
            TimeSpan.FromSeconds(15), "auditor saw b1 go");
        await bookie.RestartAsync();
        await RecoveryCluster.WaitUntilAsync(() => Task.FromResult(autoRecovery.Auditor.MissingBookies.Count == 0),
            TimeSpan.FromSeconds(15), "auditor saw b1 back");
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.That(await cluster.Tasks.ListAsync(), Is.Empty, "a restart within the delay files nothing");
        Assert.That(autoRecovery.Metrics.TasksFiled.Value, Is.Zero);
        await cluster.AssertFullyReplicatedAsync(ledgerId, payloads);
    }

    [Test]
    public async Task EmptyDiskUnderAKnownIdIsRefusedAndRepairedOnceTheOperatorRemovesTheCookie()
    {
        await using var cluster = await RecoveryCluster.StartAsync();
        await Task.WhenAll(Enumerable.Range(0, 4).Select(i => cluster.StartProcessBookieAsync($"b{i}", autoRecovery: false)));
        var client = cluster.NewClient();
        var ledgers = new List<(long Id, List<string> Payloads)>();
        for (int i = 0; i < 3; i++)
        {
            var (id, payloads, _) = await cluster.WriteLedgerAsync(client, 3, 2, 2, 40);
            ledgers.Add((id, payloads));
        }
        string victim = (await cluster.Ledgers.ReadAsync(ledgers[0].Id))!.Value.Metadata.Fragments[0].Bookies[0];
        var bookie = cluster.Process(victim);
        bookie.Kill9();
        foreach (string dir in new[] { bookie.JournalDir, bookie.LedgersDir, bookie.IndexDir })
        {
            Directory.Delete(dir, recursive: true); // the disks were replaced
        }
        var refused = Assert.ThrowsAsync<InvalidOperationException>(() => bookie.RestartAsync());
        Assert.That(refused!.Message, Does.Contain("exited with code 3"));
        Assert.That(refused.Message, Does.Contain("invalid cookie").IgnoreCase);
        Assert.That(bookie.IsRunning, Is.False);

        // The operator accepts the new disks: the old cookie goes, the bookie joins empty.
        await cluster.Store.DeleteAsync(MetadataPaths.Cookie(victim), null);
        await bookie.RestartAsync();
        // Only the periodic check can notice: the bookie is registered again (lost-bookie delay far away).
        var options = RecoveryCluster.FastOptions(TimeSpan.FromMinutes(5));
        options.PeriodicCheckInterval = TimeSpan.FromSeconds(1);
        var autoRecovery = await cluster.StartAutoRecoveryAsync("ar", options);
        await RecoveryCluster.WaitUntilAsync(async () => autoRecovery.Auditor.CompletedChecks > 0
            && !await cluster.AnyLedgerReferencesAsync(victim) && (await cluster.Tasks.ListAsync()).Count == 0,
            TimeSpan.FromSeconds(60), "missing copies found by the check and repaired");
        Assert.That(autoRecovery.Metrics.TasksFiled.Value, Is.GreaterThan(0));
        foreach (var (id, payloads) in ledgers)
        {
            await cluster.AssertFullyReplicatedAsync(id, payloads);
        }
    }
}
