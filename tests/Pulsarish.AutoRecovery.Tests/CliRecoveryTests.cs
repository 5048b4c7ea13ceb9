namespace Pulsarish.AutoRecovery.Tests;

/// <summary>AutoRecovery through the command line: the standalone process and the admin's inline recovery.</summary>
[TestFixture]
[NonParallelizable]
public sealed class CliRecoveryTests
{
    [Test]
    public async Task StandaloneAutoRecoveryProcessReReplicatesALostBookie()
    {
        await using var cluster = await RecoveryCluster.StartAsync();
        for (int i = 0; i < 4; i++)
        {
            await cluster.StartInProcessBookieAsync($"b{i}");
        }
        var client = cluster.NewClient();
        var (ledgerId, payloads, _) = await cluster.WriteLedgerAsync(client, 3, 3, 2, 40);
        string victim = (await cluster.Ledgers.ReadAsync(ledgerId))!.Value.Metadata.Fragments[0].Bookies[2];
        var (process, output) = await PulsarishCli.StartAsync("autorecovery ready", "autorecovery", "--metadata-url", cluster.Url,
            "--id", "standalone", "--metadata-session-timeout-ms", "2000", "--lost-bookie-delay-ms", "500",
            "--periodic-check-interval-ms", "0");
        try
        {
            await cluster.StopInProcessBookieAsync(victim);
            await RecoveryCluster.WaitUntilAsync(async () => !await cluster.AnyLedgerReferencesAsync(victim)
                && (await cluster.Tasks.ListAsync()).Count == 0, TimeSpan.FromSeconds(40), "standalone AutoRecovery repaired the ledger");
            var (exit, listing) = await PulsarishCli.RunAsync("admin", "bookies", "list-underreplicated", "--metadata-url", cluster.Url);
            Assert.That(exit, Is.EqualTo(0), listing);
            Assert.That(listing, Does.Contain("0 under-replicated ledgers"));
            await cluster.AssertFullyReplicatedAsync(ledgerId, payloads);
        }
        finally
        {
            await PulsarishCli.KillAsync(process);
            lock (output)
            {
                if (TestContext.CurrentContext.Result.Outcome.Status == NUnit.Framework.Interfaces.TestStatus.Failed)
                {
                    TestContext.Progress.WriteLine(output.ToString());
                }
            }
        }
    }

    [Test]
    public async Task AdminRecoverInlineCopiesWithoutAnyAutoRecoveryRunning()
    {
        await using var cluster = await RecoveryCluster.StartAsync();
        for (int i = 0; i < 4; i++)
        {
            await cluster.StartInProcessBookieAsync($"b{i}");
        }
        var client = cluster.NewClient();
        var ledgers = new List<(long Id, List<string> Payloads)>();
        for (int i = 0; i < 2; i++)
        {
            var (id, payloads, _) = await cluster.WriteLedgerAsync(client, 3, 2, 2, 30);
            ledgers.Add((id, payloads));
        }
        string victim = (await cluster.Ledgers.ReadAsync(ledgers[0].Id))!.Value.Metadata.Fragments[0].Bookies[0];
        await cluster.StopInProcessBookieAsync(victim);
        var (exitBefore, checkBefore) = await PulsarishCli.RunAsync("admin", "ledgers", "check", ledgers[0].Id.ToString(), "--metadata-url", cluster.Url);
        Assert.That(exitBefore, Is.EqualTo(1), checkBefore);
        Assert.That(checkBefore, Does.Contain($"{victim}: bookie unavailable"));

        var (exit, output) = await PulsarishCli.RunAsync("admin", "bookies", "recover", victim, "--inline", "--wait-seconds", "60",
            "--metadata-url", cluster.Url);
        Assert.That(exit, Is.EqualTo(0), output);
        Assert.That(output, Does.Contain($"no ledger references {victim}"));
        foreach (var (id, payloads) in ledgers)
        {
            await cluster.AssertFullyReplicatedAsync(id, payloads);
        }
    }
}
