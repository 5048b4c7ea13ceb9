using System.Text;
using Pulsarish.Protocol.Errors;
using Pulsarish.Ledgers;
using Pulsarish.Ledgers.Tests.Fakes;
using Pulsarish.Protocol.Bookie;
using Pulsarish.Protocol.Metadata;
using Pulsarish.TestKit;

namespace Pulsarish.Ledgers.Tests;

/// <summary>Write pipeline logic on in-memory bookies: ordering, quorums, back-pressure, ensemble change, fencing.</summary>
[TestFixture]
public sealed class LedgerHandleTests
{
    internal static byte[] Payload(long i) => Encoding.UTF8.GetBytes($"entry-{i}");

    [Test]
    public async Task CompletionsAreDeliveredInEntryOrderWhenAcksArriveOutOfOrder()
    {
        await using var env = new FakeLedgerEnvironment(3);
        var handle = await env.Client.CreateLedgerAsync(3, 3, 2);
        foreach (var bookie in env.Cluster.Bookies)
        {
            bookie.Manual = true;
        }
        var delivered = new List<long>();
        var tasks = new List<Task<long>>();
        for (int i = 0; i < 20; i++)
        {
            handle.AddEntry(Payload(i), (id, error, _) => { lock (delivered) { delivered.Add(error is null ? id : -100 - id); } }, null);
        }
        for (int i = 0; i < 20; i++)
        {
            tasks.Add(handle.AddAsync(Payload(20 + i)));
        }
        // Acks in reverse entry order, on two bookies only (Qa = 2).
        env.Cluster["bookie-0"].Release(adds => adds.Reverse());
        Assert.That(delivered, Is.Empty, "one ack per entry is below Qa");
        env.Cluster["bookie-2"].Release(adds => adds.Reverse());
        var ids = await Task.WhenAll(tasks);
        Assert.That(delivered, Is.EqualTo(Enumerable.Range(0, 20).Select(i => (long)i)));
        Assert.That(ids, Is.EqualTo(Enumerable.Range(20, 20).Select(i => (long)i)));
        Assert.That(handle.LastAddConfirmed, Is.EqualTo(39));
    }

    [Test]
    public async Task TaskCompletionsAreOrderedUnderRandomJitter()
    {
        await using var env = new FakeLedgerEnvironment(5, seed: TestSeed.Use());
        env.Cluster.MaxJitterMicros = 3000;
        var handle = await env.Client.CreateLedgerAsync(5, 3, 2);
        var tasks = new Task<long>[300];
        int violations = 0;
        for (int i = 0; i < tasks.Length; i++)
        {
            tasks[i] = handle.AddAsync(Payload(i));
            if (i > 0)
            {
                var previous = tasks[i - 1];
                _ = tasks[i].ContinueWith(_ => { if (!previous.IsCompleted) Interlocked.Increment(ref violations); },
                    TaskContinuationOptions.ExecuteSynchronously);
            }
        }
        var ids = await Task.WhenAll(tasks);
        Assert.That(ids, Is.EqualTo(Enumerable.Range(0, tasks.Length).Select(i => (long)i)));
        Assert.That(violations, Is.Zero, "an add completed before an earlier one");
        var read = await handle.ReadAsync(0, tasks.Length - 1);
        Assert.That(read.Select(e => Encoding.UTF8.GetString(e.Payload.Span)),
            Is.EqualTo(Enumerable.Range(0, tasks.Length).Select(i => $"entry-{i}")));
    }

    [Test]
    public async Task AddCompletesWithAckQuorumWhileThirdBookieIsSilent()
    {
        await using var env = new FakeLedgerEnvironment(3);
        var handle = await env.Client.CreateLedgerAsync(3, 3, 2);
        string silent = handle.Metadata.Fragments[0].Bookies[1];
        env.Cluster[silent].Manual = true;
        var id = await handle.AddAsync(Payload(0)).WaitAsync(TimeSpan.FromSeconds(5));
        Assert.That(id, Is.EqualTo(0));
        Assert.That(env.Cluster[silent].Has(handle.LedgerId, 0), Is.False);
    }

    [Test]
    public async Task AddWaitsForAckQuorumOfItsOwnWriteSet()
    {
        await using var env = new FakeLedgerEnvironment(4);
        var handle = await env.Client.CreateLedgerAsync(4, 2, 2);
        var ensemble = handle.Metadata.Fragments[0].Bookies;
        // Entry 0 goes to B0,B1. Hold B1: acks of B2,B3 (not in its write set) must not complete it.
        env.Cluster[ensemble[1]].Manual = true;
        var add = handle.AddAsync(Payload(0));
        await Task.Delay(100);
        Assert.That(add.IsCompleted, Is.False);
        env.Cluster[ensemble[1]].Release();
        Assert.That(await add.WaitAsync(TimeSpan.FromSeconds(5)), Is.EqualTo(0));
    }

    [Test]
    public async Task BackPressureKeepsAtMostMaxPendingAddsInFlight()
    {
        await using var env = new FakeLedgerEnvironment(3, new LedgerClientOptions { MaxPendingAdds = 4 });
        var handle = await env.Client.CreateLedgerAsync(3, 3, 3);
        foreach (var bookie in env.Cluster.Bookies)
        {
            bookie.Manual = true;
        }
        var tasks = Enumerable.Range(0, 10).Select(i => handle.AddAsync(Payload(i))).ToList();
        Assert.That(env.Cluster["bookie-0"].Held.Count, Is.EqualTo(4), "only MaxPendingAdds adds are sent");
        foreach (var bookie in env.Cluster.Bookies)
        {
            bookie.Release();
        }
        Assert.That(env.Cluster["bookie-0"].Held.Count, Is.EqualTo(4), "the next window was admitted");
        await Eventually.That(() =>
        {
            foreach (var bookie in env.Cluster.Bookies)
            {
                bookie.Release();
            }
            return tasks.All(t => t.IsCompleted);
        }, TimeSpan.FromSeconds(30), "every add completes while the bookies answer", TimeSpan.FromMilliseconds(10));
        Assert.That(tasks.Select(t => t.Result), Is.EqualTo(Enumerable.Range(0, 10).Select(i => (long)i)));
    }

    [Test]
    public async Task CreateLedgerValidatesQuorumsAndBookieCount()
    {
        await using var env = new FakeLedgerEnvironment(3);
        Assert.ThrowsAsync<ArgumentException>(() => env.Client.CreateLedgerAsync(2, 3, 2));
        Assert.ThrowsAsync<ArgumentException>(() => env.Client.CreateLedgerAsync(3, 2, 3));
        Assert.ThrowsAsync<ArgumentException>(() => env.Client.CreateLedgerAsync(3, 3, 0));
        Assert.ThrowsAsync<NotEnoughBookiesException>(() => env.Client.CreateLedgerAsync(4, 3, 2));
        var handle = await env.Client.CreateLedgerAsync(3, 2, 1);
        var metadata = handle.Metadata;
        Assert.That(metadata.State, Is.EqualTo(LedgerState.Open));
        Assert.That(metadata.MasterKey.Length, Is.EqualTo(LedgerClient.MasterKeyBytes));
        Assert.That(metadata.Fragments[0].Bookies.Distinct().Count(), Is.EqualTo(3));
    }

    [Test]
    public async Task FailedBookieIsReplacedByEnsembleChangeAndPendingAddsAreResent()
    {
        await using var env = new FakeLedgerEnvironment(4);
        var handle = await env.Client.CreateLedgerAsync(3, 3, 3);
        for (int i = 0; i < 10; i++)
        {
            await handle.AddAsync(Payload(i));
        }
        string failed = handle.Metadata.Fragments[0].Bookies[0];
        env.Cluster[failed].Down = true;
        var tasks = Enumerable.Range(10, 20).Select(i => handle.AddAsync(Payload(i))).ToList();
        await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(10));
        var metadata = (await env.Ledgers.ReadAsync(handle.LedgerId))!.Metadata;
        Assert.That(metadata.Fragments, Has.Count.EqualTo(2));
        Assert.That(metadata.Fragments[1].FirstEntryId, Is.EqualTo(10));
        Assert.That(metadata.Fragments[1].Bookies, Does.Not.Contain(failed));
        string replacement = metadata.Fragments[1].Bookies.Except(metadata.Fragments[0].Bookies).Single();
        Assert.That(env.Cluster[replacement].EntriesOf(handle.LedgerId), Is.EquivalentTo(Enumerable.Range(10, 20).Select(i => (long)i)));
        await handle.CloseAsync();
        var reader = await env.Client.OpenReadOnlyAsync(handle.LedgerId);
        var entries = await reader.ReadAsync(0, 29);
        Assert.That(entries.Select(e => Encoding.UTF8.GetString(e.Payload.Span)), Is.EqualTo(Enumerable.Range(0, 30).Select(i => $"entry-{i}")));
    }

    [Test]
    public async Task HungBookieIsReplacedAfterAddTimeout()
    {
        await using var env = new FakeLedgerEnvironment(4, new LedgerClientOptions { AddTimeout = TimeSpan.FromMilliseconds(200) });
        var handle = await env.Client.CreateLedgerAsync(3, 3, 3);
        await handle.AddAsync(Payload(0));
        string hung = handle.Metadata.Fragments[0].Bookies[2];
        env.Cluster[hung].Hung = true;
        var id = await handle.AddAsync(Payload(1)).WaitAsync(TimeSpan.FromSeconds(5));
        Assert.That(id, Is.EqualTo(1));
        Assert.That(handle.Metadata.Fragments[^1].Bookies, Does.Not.Contain(hung));
    }

    [Test]
    public async Task SeveralFailuresInARowAreRepaired()
    {
        await using var env = new FakeLedgerEnvironment(6);
        var handle = await env.Client.CreateLedgerAsync(3, 2, 2);
        var first = handle.Metadata.Fragments[0].Bookies.ToList();
        await handle.AddAsync(Payload(0));
        env.Cluster[first[0]].Down = true;
        await handle.AddAsync(Payload(1)).WaitAsync(TimeSpan.FromSeconds(5));
        await handle.AddAsync(Payload(2)).WaitAsync(TimeSpan.FromSeconds(5));
        var second = handle.Metadata.Fragments[^1].Bookies.ToList();
        env.Cluster[second[1]].Down = true;
        env.Cluster[second[2]].Down = true;
        for (int i = 3; i < 12; i++)
        {
            await handle.AddAsync(Payload(i)).WaitAsync(TimeSpan.FromSeconds(5));
        }
        var ensemble = handle.Metadata.Fragments[^1].Bookies;
        Assert.That(ensemble, Does.Not.Contain(first[0]).And.Not.Contain(second[1]).And.Not.Contain(second[2]));
        await handle.CloseAsync();
        foreach (var bookie in env.Cluster.Bookies)
        {
            bookie.Down = false; // restarted: the early fragments are readable again
        }
        var entries = await (await env.Client.OpenReadOnlyAsync(handle.LedgerId)).ReadAsync(0, 11);
        Assert.That(entries.Select(e => e.EntryId), Is.EqualTo(Enumerable.Range(0, 12).Select(i => (long)i)));
    }

    [Test]
    public async Task NoReplacementFailsPendingAddsWithNotEnoughBookies()
    {
        await using var env = new FakeLedgerEnvironment(3);
        var handle = await env.Client.CreateLedgerAsync(3, 3, 3);
        await handle.AddAsync(Payload(0));
        env.Cluster["bookie-1"].Down = true;
        var tasks = Enumerable.Range(1, 5).Select(i => handle.AddAsync(Payload(i))).ToList();
        foreach (var task in tasks)
        {
            Assert.ThrowsAsync<NotEnoughBookiesException>(() => task.WaitAsync(TimeSpan.FromSeconds(5)));
        }
        Assert.That(handle.LastAddConfirmed, Is.EqualTo(0), "nothing acknowledged without Qa acks");
        Assert.ThrowsAsync<NotEnoughBookiesException>(() => handle.AddAsync(Payload(9)));
    }

    [Test]
    public async Task FencedBookiesFailTheWriter()
    {
        await using var env = new FakeLedgerEnvironment(3);
        var handle = await env.Client.CreateLedgerAsync(3, 3, 2);
        await handle.AddAsync(Payload(0));
        var recovered = await env.NewClient().OpenWithRecoveryAsync(handle.LedgerId);
        Assert.That(recovered.LastAddConfirmed, Is.EqualTo(0));
        Assert.ThrowsAsync<LedgerFencedException>(() => handle.AddAsync(Payload(1)).WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.That(handle.IsWritable, Is.False);
        Assert.ThrowsAsync<LedgerFencedException>(() => handle.AddAsync(Payload(2)));
    }

    [Test]
    public async Task EnsembleChangeThatFindsLedgerInRecoveryFencesTheWriter()
    {
        await using var env = new FakeLedgerEnvironment(4);
        var handle = await env.Client.CreateLedgerAsync(3, 3, 3);
        await handle.AddAsync(Payload(0));
        // Another client moves the ledger to IN_RECOVERY without touching bookies.
        var current = (await env.Ledgers.ReadAsync(handle.LedgerId))!;
        var inRecovery = current.Metadata.Clone();
        inRecovery.State = LedgerState.InRecovery;
        await env.Ledgers.UpdateAsync(inRecovery, current.Version);
        env.Cluster[current.Metadata.Fragments[0].Bookies[0]].Down = true;
        Assert.ThrowsAsync<LedgerFencedException>(() => handle.AddAsync(Payload(1)).WaitAsync(TimeSpan.FromSeconds(5)));
        var after = (await env.Ledgers.ReadAsync(handle.LedgerId))!.Metadata;
        Assert.That(after.Fragments, Has.Count.EqualTo(1), "a fenced writer writes no fragment");
    }

    [Test]
    public async Task AddQuorumTimeoutFailsTheHandle()
    {
        await using var env = new FakeLedgerEnvironment(3, new LedgerClientOptions { AddQuorumTimeout = TimeSpan.FromMilliseconds(100) });
        var handle = await env.Client.CreateLedgerAsync(3, 3, 2);
        await handle.AddAsync(Payload(0));
        foreach (var bookie in env.Cluster.Bookies)
        {
            bookie.Manual = true;
        }
        var pending = handle.AddAsync(Payload(1));
        Assert.ThrowsAsync<AddQuorumTimeoutException>(() => pending.WaitAsync(TimeSpan.FromSeconds(5)));
        Assert.That(handle.LastAddConfirmed, Is.EqualTo(0));
        Assert.That(handle.IsWritable, Is.False);
    }

    [Test]
    public async Task CloseFailsPendingAddsAndRecordsLac()
    {
        await using var env = new FakeLedgerEnvironment(3);
        var handle = await env.Client.CreateLedgerAsync(3, 3, 2);
        for (int i = 0; i < 5; i++)
        {
            await handle.AddAsync(Payload(i));
        }
        foreach (var bookie in env.Cluster.Bookies)
        {
            bookie.Manual = true;
        }
        var pending = handle.AddAsync(Payload(5));
        await handle.CloseAsync();
        Assert.ThrowsAsync<LedgerClosedException>(() => pending);
        var metadata = (await env.Ledgers.ReadAsync(handle.LedgerId))!.Metadata;
        Assert.That(metadata.State, Is.EqualTo(LedgerState.Closed));
        Assert.That(metadata.LastEntryId, Is.EqualTo(4));
        Assert.That(metadata.Length, Is.EqualTo(Enumerable.Range(0, 5).Sum(i => Payload(i).Length)));
        Assert.ThrowsAsync<LedgerClosedException>(() => handle.AddAsync(Payload(6)));
    }

    [Test]
    public async Task CloseAfterAFailedAddClosesAtTheLac()
    {
        await using var env = new FakeLedgerEnvironment(3);
        var handle = await env.Client.CreateLedgerAsync(3, 3, 3);
        await handle.AddAsync(Payload(0));
        await handle.AddAsync(Payload(1));
        env.Cluster["bookie-1"].Down = true; // no replacement: the handle fails
        var tasks = Enumerable.Range(2, 4).Select(i => handle.AddAsync(Payload(i))).ToList();
        foreach (var task in tasks)
        {
            Assert.ThrowsAsync<NotEnoughBookiesException>(() => task.WaitAsync(TimeSpan.FromSeconds(5)));
        }
        Assert.That(handle.IsWritable, Is.False);
        await handle.CloseAsync();
        var closed = (await env.Ledgers.ReadAsync(handle.LedgerId))!.Metadata;
        Assert.That(closed.State, Is.EqualTo(LedgerState.Closed));
        Assert.That(closed.LastEntryId, Is.EqualTo(1), "closed at the LAC, the failed adds excluded");
        Assert.That(closed.Length, Is.EqualTo(Payload(0).Length + Payload(1).Length));
        Assert.That(handle.Metadata.State, Is.EqualTo(LedgerState.Closed));
        env.Cluster["bookie-1"].Down = false;
        var reopened = await env.NewClient().OpenWithRecoveryAsync(handle.LedgerId);
        Assert.That(reopened.LastAddConfirmed, Is.EqualTo(1), "recovery keeps the writer's close");
    }

    [Test]
    public async Task CloseAfterAnAddQuorumTimeoutClosesAtTheLac()
    {
        await using var env = new FakeLedgerEnvironment(3, new LedgerClientOptions { AddQuorumTimeout = TimeSpan.FromMilliseconds(100) });
        var handle = await env.Client.CreateLedgerAsync(3, 3, 2);
        await handle.AddAsync(Payload(0));
        foreach (var bookie in env.Cluster.Bookies)
        {
            bookie.Manual = true; // every bookie stops answering
        }
        var pending = handle.AddAsync(Payload(1));
        Assert.ThrowsAsync<AddQuorumTimeoutException>(() => pending.WaitAsync(TimeSpan.FromSeconds(5)));
        await handle.CloseAsync();
        var closed = (await env.Ledgers.ReadAsync(handle.LedgerId))!.Metadata;
        Assert.That((closed.State, closed.LastEntryId, closed.Length), Is.EqualTo((LedgerState.Closed, 0L, (long)Payload(0).Length)));
    }

    [Test]
    public async Task CloseOfAWriterWhoseLedgerIsInRecoveryIsFenced()
    {
        await using var env = new FakeLedgerEnvironment(3);
        var handle = await env.Client.CreateLedgerAsync(3, 3, 2);
        await handle.AddAsync(Payload(0));
        var current = (await env.Ledgers.ReadAsync(handle.LedgerId))!;
        var inRecovery = current.Metadata.Clone();
        inRecovery.State = LedgerState.InRecovery;
        await env.Ledgers.UpdateAsync(inRecovery, current.Version);
        Assert.ThrowsAsync<LedgerFencedException>(() => handle.CloseAsync());
        Assert.That((await env.Ledgers.ReadAsync(handle.LedgerId))!.Metadata.State, Is.EqualTo(LedgerState.InRecovery),
            "the fenced writer leaves the record to its recoverer");
    }

    [Test]
    public async Task CloseOfAFencedWriterSucceedsWhenRecoveryClosedAtItsLac()
    {
        await using var env = new FakeLedgerEnvironment(3);
        var handle = await env.Client.CreateLedgerAsync(3, 3, 2);
        await handle.AddAsync(Payload(0));
        await env.NewClient().OpenWithRecoveryAsync(handle.LedgerId);
        Assert.ThrowsAsync<LedgerFencedException>(() => handle.AddAsync(Payload(1)).WaitAsync(TimeSpan.FromSeconds(5)));
        await handle.CloseAsync(); // closed elsewhere with the same last entry: the same close
        Assert.That(handle.Metadata.LastEntryId, Is.EqualTo(0));
    }

    [Test]
    public async Task ReadsBeyondLacAreRefused()
    {
        await using var env = new FakeLedgerEnvironment(3);
        var handle = await env.Client.CreateLedgerAsync(3, 2, 2);
        for (int i = 0; i < 3; i++)
        {
            await handle.AddAsync(Payload(i));
        }
        Assert.ThrowsAsync<ReadBeyondLastEntryException>(() => handle.ReadAsync(0, 3));
        var reader = await env.Client.OpenReadOnlyAsync(handle.LedgerId);
        // Bookies learn the LAC piggy-backed on later adds: entry 2 carried LAC 1.
        Assert.That(reader.LastAddConfirmed, Is.EqualTo(1));
        Assert.ThrowsAsync<ReadBeyondLastEntryException>(() => reader.ReadAsync(1, 2));
        Assert.That((await reader.ReadAsync(0, 1)).Count, Is.EqualTo(2));
        await handle.CloseAsync();
        var closed = await env.Client.OpenReadOnlyAsync(handle.LedgerId);
        Assert.That(closed.LastAddConfirmed, Is.EqualTo(2));
        Assert.ThrowsAsync<ReadBeyondLastEntryException>(() => closed.ReadAsync(2, 3));
    }

    [Test]
    public async Task TailingReaderFollowsTheWritersEnsembleChange()
    {
        await using var env = new FakeLedgerEnvironment(3);
        var writer = await env.Client.CreateLedgerAsync(2, 1, 1);
        for (int i = 0; i < 4; i++)
        {
            await writer.AddAsync(Payload(i));
        }
        var reader = await env.NewClient().OpenReadOnlyAsync(writer.LedgerId);
        Assert.That(reader.LastAddConfirmed, Is.EqualTo(2));
        string failed = writer.Metadata.Fragments[0].Bookies[0];
        env.Cluster[failed].Down = true;
        for (int i = 4; i < 10; i++)
        {
            await writer.AddAsync(Payload(i)).WaitAsync(TimeSpan.FromSeconds(5));
        }
        Assert.That(writer.Metadata.Fragments, Has.Count.EqualTo(2));
        // The reader's metadata still names the failed bookie: it re-reads the metadata and carries on.
        Assert.That(await reader.ReadLastAddConfirmedAsync(), Is.EqualTo(8));
        var entries = await reader.ReadAsync(4, 8);
        Assert.That(entries.Select(e => Encoding.UTF8.GetString(e.Payload.Span)), Is.EqualTo(Enumerable.Range(4, 5).Select(i => $"entry-{i}")));
        Assert.That(reader.Metadata.Fragments, Has.Count.EqualTo(2));
    }

    [Test]
    public async Task CorruptCopyIsSkippedAndSlowBookieIsReadSpeculatively()
    {
        await using var env = new FakeLedgerEnvironment(3, new LedgerClientOptions { SpeculativeReadTimeout = TimeSpan.FromMilliseconds(50) });
        var handle = await env.Client.CreateLedgerAsync(3, 3, 3);
        await handle.AddAsync(Payload(0));
        await handle.AddAsync(Payload(1));
        var ensemble = handle.Metadata.Fragments[0].Bookies;
        env.Cluster[ensemble[0]].Corrupt(handle.LedgerId, 0);
        var entry = (await handle.ReadAsync(0, 0))[0];
        Assert.That(Encoding.UTF8.GetString(entry.Payload.Span), Is.EqualTo("entry-0"));
        env.Cluster[ensemble[1]].ReadDelay = TimeSpan.FromSeconds(30);
        var started = DateTime.UtcNow;
        var second = (await handle.ReadAsync(0, 0).WaitAsync(TimeSpan.FromSeconds(5)))[0];
        Assert.That(Encoding.UTF8.GetString(second.Payload.Span), Is.EqualTo("entry-0"));
        Assert.That(DateTime.UtcNow - started, Is.LessThan(TimeSpan.FromSeconds(5)));
        foreach (var bookie in ensemble)
        {
            env.Cluster[bookie].Corrupt(handle.LedgerId, 1);
        }
        env.Cluster[ensemble[1]].ReadDelay = TimeSpan.Zero;
        await handle.CloseAsync();
        var reader = await env.Client.OpenReadOnlyAsync(handle.LedgerId);
        Assert.ThrowsAsync<CorruptDataException>(() => reader.ReadAsync(1, 1));
    }

    [Test]
    public async Task MetricsCountAddsEnsembleChangesAndRecoveries()
    {
        double adds = LedgerMetrics.Adds.Value;
        long latencies = LedgerMetrics.AddLatencySeconds.Count;
        double changes = LedgerMetrics.EnsembleChanges.Value;
        double recoveries = LedgerMetrics.Recoveries.Value;
        await using var env = new FakeLedgerEnvironment(4);
        var handle = await env.Client.CreateLedgerAsync(3, 3, 3);
        for (int i = 0; i < 5; i++)
        {
            await handle.AddAsync(Payload(i));
        }
        env.Cluster[handle.Metadata.Fragments[0].Bookies[0]].Down = true;
        await handle.AddAsync(Payload(5)).WaitAsync(TimeSpan.FromSeconds(5));
        await env.NewClient().OpenWithRecoveryAsync(handle.LedgerId);
        Assert.That(LedgerMetrics.Adds.Value - adds, Is.GreaterThanOrEqualTo(6));
        Assert.That(LedgerMetrics.AddLatencySeconds.Count - latencies, Is.GreaterThanOrEqualTo(6));
        Assert.That(LedgerMetrics.EnsembleChanges.Value - changes, Is.GreaterThanOrEqualTo(1));
        Assert.That(LedgerMetrics.Recoveries.Value - recoveries, Is.GreaterThanOrEqualTo(1));
    }

    [Test]
    public async Task DeleteLedgerRemovesMetadata()
    {
        await using var env = new FakeLedgerEnvironment(3);
        var handle = await env.Client.CreateLedgerAsync(3, 2, 2);
        await handle.CloseAsync();
        await env.Client.DeleteLedgerAsync(handle.LedgerId);
        Assert.That(await env.Ledgers.ReadAsync(handle.LedgerId), Is.Null);
        Assert.ThrowsAsync<NoSuchLedgerException>(() => env.Client.OpenReadOnlyAsync(handle.LedgerId));
        Assert.ThrowsAsync<NoSuchLedgerException>(() => env.Client.DeleteLedgerAsync(handle.LedgerId));
    }
}
