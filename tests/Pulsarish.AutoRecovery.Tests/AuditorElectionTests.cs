using Pulsarish.Bookie.AutoRecovery;

namespace Pulsarish.AutoRecovery.Tests;

/// <summary>Exactly one auditor; a successor takes over when it dies and recovery still completes (DESIGN.md §7).</summary>
[TestFixture]
[NonParallelizable]
public sealed class AuditorElectionTests
{
    [Test]
    public async Task SuccessorAuditorFilesAndRecoveryCompletesWhenTheElectedOneDies()
    {
        await using var cluster = await RecoveryCluster.StartAsync();
        for (int i = 0; i < 4; i++)
        {
            await cluster.StartInProcessBookieAsync($"b{i}");
        }
        var client = cluster.NewClient();
        var ledgers = new List<(long Id, List<string> Payloads)>();
        for (int i = 0; i < 3; i++)
        {
            var (id, payloads, _) = await cluster.WriteLedgerAsync(client, 3, 2, 2, 40);
            ledgers.Add((id, payloads));
        }
        // A long lost-bookie delay for the first auditor: it dies before it would file anything.
        var options = RecoveryCluster.FastOptions(TimeSpan.FromSeconds(2));
        var first = await cluster.StartAutoRecoveryAsync("ar-1", options);
        await RecoveryCluster.WaitUntilAsync(() => Task.FromResult(first.IsAuditor), TimeSpan.FromSeconds(10), "first auditor elected");
        var second = await cluster.StartAutoRecoveryAsync("ar-2", options);
        await Task.Delay(500);
        Assert.That(second.IsAuditor, Is.False, "only one auditor");
        Assert.That(await AuditorElector.CurrentAuditorAsync(cluster.Store), Is.EqualTo("ar-1"));

        string victim = (await cluster.Ledgers.ReadAsync(ledgers[0].Id))!.Value.Metadata.Fragments[0].Bookies[0];
        await cluster.StopInProcessBookieAsync(victim);
        await RecoveryCluster.WaitUntilAsync(() => Task.FromResult(first.Auditor.MissingBookies.Contains(victim)),
            TimeSpan.FromSeconds(10), "first auditor saw the bookie go");
        await cluster.StopAutoRecoveryAsync(first);

        await RecoveryCluster.WaitUntilAsync(() => Task.FromResult(second.IsAuditor), TimeSpan.FromSeconds(10), "successor elected");
        Assert.That(await AuditorElector.CurrentAuditorAsync(cluster.Store), Is.EqualTo("ar-2"));
        await RecoveryCluster.WaitUntilAsync(async () => !await cluster.AnyLedgerReferencesAsync(victim)
            && (await cluster.Tasks.ListAsync()).Count == 0, TimeSpan.FromSeconds(40), "every ledger re-replicated");
        foreach (var (id, payloads) in ledgers)
        {
            await cluster.AssertFullyReplicatedAsync(id, payloads);
        }
    }
}
