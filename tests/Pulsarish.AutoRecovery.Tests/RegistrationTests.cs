using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Pulsarish.Bookie;
using Pulsarish.Bookie.AutoRecovery;
using Pulsarish.Bookie.Registration;
using Pulsarish.Protocol.Checksums;
using Pulsarish.Protocol.Errors;
using Pulsarish.Ledgers;
using Pulsarish.Metadata;
using StatusCode = Pulsarish.Protocol.Bookie.StatusCode;

namespace Pulsarish.AutoRecovery.Tests;

/// <summary>A bookie's metadata membership: garbage collection, read-only registration, decommission (DESIGN.md §5-§7).</summary>
[TestFixture]
[NonParallelizable]
public sealed class RegistrationTests
{
    [Test]
    public async Task LedgerDeletedInMetadataDisappearsFromTheBookieAfterAGcPass()
    {
        await using var cluster = await RecoveryCluster.StartAsync();
        var servers = new List<BookieHost>();
        for (int i = 0; i < 3; i++)
        {
            // b0 collects on its own timer; the others are driven by hand below.
            servers.Add(await cluster.StartInProcessBookieAsync($"b{i}",
                o => o.Registration!.GcInterval = i == 0 ? TimeSpan.FromMilliseconds(300) : TimeSpan.FromHours(1)));
        }
        var client = cluster.NewClient();
        var (deleted, _, _) = await cluster.WriteLedgerAsync(client, 3, 3, 2, 20);
        var (kept, keptPayloads, _) = await cluster.WriteLedgerAsync(client, 3, 3, 2, 20);
        await client.DeleteLedgerAsync(deleted);

        await RecoveryCluster.WaitUntilAsync(() => Task.FromResult(!servers[0].Storage.ListLedgers().Contains(deleted)),
            TimeSpan.FromSeconds(20), "periodic GC on b0 dropped the deleted ledger");
        Assert.That(servers[0].Storage.ListLedgers(), Does.Contain(kept));
        foreach (var server in servers.Skip(1))
        {
            Assert.That(server.Storage.ListLedgers(), Does.Contain(deleted), "still stored before GC");
            var result = await server.Registration!.GarbageCollector!.CollectAsync();
            Assert.That(result.LedgersDeleted, Is.EqualTo(1));
            Assert.That(server.Storage.ListLedgers(), Does.Not.Contain(deleted));
            Assert.That(server.Storage.ListLedgers(), Does.Contain(kept));
            var read = await cluster.Raw.ReadEntryAsync(server.BookieId, deleted, 0, false, ReadOnlyMemory<byte>.Empty);
            Assert.That(read.Status, Is.EqualTo(StatusCode.NoSuchLedger));
        }
        await cluster.AssertFullyReplicatedAsync(kept, keptPayloads);
    }

    [Test]
    public async Task LedgerCreatedDuringTheGcScanIsNotCollected()
    {
        await using var cluster = await RecoveryCluster.StartAsync();
        var servers = new List<BookieHost>();
        for (int i = 0; i < 3; i++)
        {
            servers.Add(await cluster.StartInProcessBookieAsync($"b{i}"));
        }
        var client = cluster.NewClient();
        var (deleted, _, _) = await cluster.WriteLedgerAsync(client, 3, 3, 2, 5);
        await client.DeleteLedgerAsync(deleted);
        long createdDuringScan = -1;
        List<string>? payloads = null;
        // Right after the collector listed the ledgers, a new ledger is created and written to every bookie.
        var hooked = new HookedMetadataStore(cluster.Store, MetadataPaths.Ledgers, async () =>
        {
            var (id, written, _) = await cluster.WriteLedgerAsync(client, 3, 3, 2, 10);
            createdDuringScan = id;
            payloads = written;
        });
        var collector = new BookieGarbageCollector(servers[0].Storage, new LedgerMetadataStore(hooked), NullLogger.Instance);
        var result = await collector.CollectAsync();

        Assert.That(createdDuringScan, Is.GreaterThan(deleted), "the hook ran during the scan");
        Assert.That(result.LedgersDeleted, Is.EqualTo(1), "the deleted ledger went in the same pass");
        Assert.That(servers[0].Storage.ListLedgers(), Does.Contain(createdDuringScan));
        Assert.That(servers[0].Storage.ListLedgers(), Does.Not.Contain(deleted));
        await cluster.AssertFullyReplicatedAsync(createdDuringScan, payloads!);
    }

    [Test]
    public async Task BookieBeyondItsDiskThresholdRegistersReadOnlyAndWritableAgainBelowTheLowWaterMark()
    {
        await using var cluster = await RecoveryCluster.StartAsync();
        for (int i = 0; i < 3; i++)
        {
            await cluster.StartInProcessBookieAsync($"b{i}");
        }
        BookieOptions? options = null;
        var full = await cluster.StartInProcessBookieAsync("full", o =>
        {
            o.DiskUsageThreshold = 1e-12; // any real disk is "full"
            o.DiskUsageLwmThreshold = 1e-12;
            o.DiskCheckInterval = TimeSpan.FromMilliseconds(100);
            o.Registration!.ReadOnlyCheckInterval = TimeSpan.FromMilliseconds(100);
            o.Registration.Rack = "/r1";
            options = o;
        });
        async Task<bool> RegisteredReadOnlyAsync() =>
            (await cluster.Registry.GetAvailableAsync()).Single(b => b.BookieId == "full").ReadOnly;
        Assert.That(await RegisteredReadOnlyAsync(), Is.True);
        var registration = (await cluster.Registry.GetAvailableAsync()).Single(b => b.BookieId == "full");
        Assert.That(registration.Rack, Is.EqualTo("/r1"));
        Assert.That(registration.Address, Is.EqualTo(full.Address));
        Assert.That((await cluster.Registry.GetWritableAsync()).Select(b => b.BookieId), Does.Not.Contain("full"));
        // New ensembles avoid it: four bookies registered, only three writable.
        Assert.ThrowsAsync<NotEnoughBookiesException>(() => cluster.NewClient().CreateLedgerAsync(4, 2, 2));

        // Usage now below the threshold but above the low-water mark: still read-only (hysteresis).
        options!.DiskUsageThreshold = 0.9999;
        await Task.Delay(TimeSpan.FromMilliseconds(600)); // several disk checks
        Assert.That(full.State.ReadOnly, Is.True, "stays read-only above the low-water mark");
        Assert.That(await RegisteredReadOnlyAsync(), Is.True);

        // Below the low-water mark: writable again, re-registered.
        options.DiskUsageLwmThreshold = 0.9999;
        await RecoveryCluster.WaitUntilAsync(async () => !await RegisteredReadOnlyAsync(), TimeSpan.FromSeconds(10), "writable again");
        Assert.That(full.State.ReadOnly, Is.False);
        var ledger = await cluster.NewClient().CreateLedgerAsync(4, 4, 2);
        Assert.That(ledger.Metadata.Fragments[0].Bookies, Does.Contain("full"));
        for (int i = 0; i < 4; i++)
        {
            await ledger.AddAsync(Encoding.UTF8.GetBytes($"entry-{i}"));
        }

        // Full again: read-only registration, adds refused with READ_ONLY, reads still served.
        options.DiskUsageThreshold = 1e-12;
        options.DiskUsageLwmThreshold = 1e-12;
        await RecoveryCluster.WaitUntilAsync(RegisteredReadOnlyAsync, TimeSpan.FromSeconds(10), "read-only again");
        var read = await cluster.Raw.ReadEntryAsync("full", ledger.LedgerId, 0, false, ReadOnlyMemory<byte>.Empty);
        Assert.That(read.Status, Is.EqualTo(StatusCode.Ok), "reads are served while read-only");
        var answer = new TaskCompletionSource<StatusCode>(TaskCreationOptions.RunContinuationsAsynchronously);
        var payload = Encoding.UTF8.GetBytes("refused");
        var masterKey = ledger.Metadata.MasterKey.ToByteArray();
        cluster.Raw.AddEntry("full", new BookieAddRequest(ledger.LedgerId, 4, masterKey, 3,
            EntryDigest.Compute(ledger.LedgerId, 4, 3, payload), payload, Recovery: false), new Answer(answer), null);
        Assert.That(await answer.Task.WaitAsync(TimeSpan.FromSeconds(10)), Is.EqualTo(StatusCode.ReadOnly));
    }

    private sealed class Answer(TaskCompletionSource<StatusCode> answer) : IAddCallback
    {
        public void AddComplete(StatusCode status, string bookieId, long ledgerId, long entryId, object? context)
            => answer.TrySetResult(status);
    }

    [Test]
    public async Task DecommissionedBookieIsUnreferencedAndCannotRejoinUnderItsId()
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
            var (id, payloads, _) = await cluster.WriteLedgerAsync(client, 3, 2, 2, 30);
            ledgers.Add((id, payloads));
        }
        string victim = (await cluster.Ledgers.ReadAsync(ledgers[0].Id))!.Value.Metadata.Fragments[0].Bookies[1];
        await cluster.StartAutoRecoveryAsync("ar", RecoveryCluster.FastOptions(TimeSpan.FromMinutes(5)));

        // Through the CLI, as an operator would.
        var (exit, output) = await PulsarishCli.RunAsync("admin", "bookies", "decommission", victim, "--metadata-url", cluster.Url,
            "--timeout-seconds", "60");
        Assert.That(exit, Is.EqualTo(0), output);
        Assert.That(output, Does.Contain($"bookie {victim} decommissioned"));
        Assert.That(await cluster.AnyLedgerReferencesAsync(victim), Is.False);
        Assert.That(await cluster.Store.ExistsAsync(MetadataPaths.Cookie(victim)), Is.False, "cookie deleted");

        await cluster.StopInProcessBookieAsync(victim);
        foreach (var (id, payloads) in ledgers)
        {
            await cluster.AssertFullyReplicatedAsync(id, payloads);
            var (checkExit, checkOutput) = await PulsarishCli.RunAsync("admin", "ledgers", "check", id.ToString(), "--metadata-url", cluster.Url);
            Assert.That(checkExit, Is.EqualTo(0), checkOutput);
            Assert.That(checkOutput, Does.Contain("fully replicated"));
        }
        var refused = Assert.ThrowsAsync<InvalidCookieException>(() => cluster.StartInProcessBookieAsync(victim));
        Assert.That(refused!.Message, Does.Contain("decommissioned"));
    }
}
