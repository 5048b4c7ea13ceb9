using System.Text;
using Pulsarish.Protocol.Checksums;
using Pulsarish.Ledgers;
using Pulsarish.Ledgers.Tests.Fakes;
using Pulsarish.Protocol.Metadata;
using static Pulsarish.Ledgers.Tests.LedgerHandleTests;

namespace Pulsarish.Ledgers.Tests;

/// <summary>Recovery (DESIGN §4) on in-memory bookies: partial entries, a bookie down, racing recoverers.</summary>
[TestFixture]
public sealed class LedgerRecoveryTests
{
    /// <summary>Stores entry <paramref name="entryId"/> on the given bookies only, as a writer that died mid-add would.</summary>
    internal static void Plant(FakeBookieCluster cluster, LedgerMetadata metadata, long entryId, long lac, long lengthBefore,
        params string[] bookies)
    {
        var payload = Payload(entryId);
        var stored = LedgerEntryFormat.Encode(lengthBefore + payload.Length, payload);
        var request = new BookieAddRequest(metadata.LedgerId, entryId, metadata.MasterKey.ToByteArray(), lac,
            EntryDigest.Compute(metadata.LedgerId, entryId, lac, stored), stored, Recovery: false);
        foreach (var bookie in bookies)
        {
            cluster[bookie].Plant(request);
        }
    }

    private static async Task<(FakeLedgerEnvironment Env, LedgerHandle Handle, long Length)> WriteAsync(
        int bookies, int e, int qw, int qa, int entries)
    {
        var env = new FakeLedgerEnvironment(bookies);
        var handle = await env.Client.CreateLedgerAsync(e, qw, qa);
        long length = 0;
        for (int i = 0; i < entries; i++)
        {
            await handle.AddAsync(Payload(i));
            length += Payload(i).Length;
        }
        return (env, handle, length);
    }

    [Test]
    public async Task EntryOnAckQuorumBeforeFenceIsRecoveredToFullWriteSet()
    {
        var (env, handle, length) = await WriteAsync(3, 3, 3, 2, 5);
        await using var _ = env;
        var ensemble = handle.Metadata.Fragments[0].Bookies.ToArray();
        Plant(env.Cluster, handle.Metadata, 5, 4, length, ensemble[0], ensemble[1]);
        var recovered = await env.NewClient().OpenWithRecoveryAsync(handle.LedgerId);
        Assert.That(recovered.LastAddConfirmed, Is.EqualTo(5), "an entry on Qa bookies may have been acknowledged: it must be kept");
        Assert.That(recovered.Length, Is.EqualTo(length + Payload(5).Length));
        foreach (var bookie in ensemble)
        {
            Assert.That(env.Cluster[bookie].Has(handle.LedgerId, 5), Is.True, $"{bookie} holds the recovered entry");
        }
        var entries = await recovered.ReadAsync(0, 5);
        Assert.That(entries.Select(x => Encoding.UTF8.GetString(x.Payload.Span)), Is.EqualTo(Enumerable.Range(0, 6).Select(i => $"entry-{i}")));
    }

    [Test]
    public async Task EntryOnFewerThanAckQuorumIsRecoveredToFullWriteSetOrCleanlyAbsent([Range(1, 8)] int seed)
    {
        var (env, handle, length) = await WriteAsync(3, 3, 3, 2, 5);
        await using var _ = env;
        env.Cluster.MaxJitterMicros = 2000 * seed;
        var ensemble = handle.Metadata.Fragments[0].Bookies.ToArray();
        Plant(env.Cluster, handle.Metadata, 5, 4, length, ensemble[seed % 3]);
        var recovered = await env.NewClient().OpenWithRecoveryAsync(handle.LedgerId);
        Assert.That(recovered.LastAddConfirmed, Is.AnyOf(4L, 5L));
        if (recovered.LastAddConfirmed == 5)
        {
            Assert.That(ensemble.All(b => env.Cluster[b].Has(handle.LedgerId, 5)), Is.True, "recovered to the full write set");
            Assert.That(Encoding.UTF8.GetString((await recovered.ReadAsync(5, 5))[0].Payload.Span), Is.EqualTo("entry-5"));
        }
        else
        {
            Assert.ThrowsAsync<ReadBeyondLastEntryException>(() => recovered.ReadAsync(5, 5));
            Assert.That(recovered.Length, Is.EqualTo(length));
        }
    }

    [Test]
    public async Task RecoveryStopsAtFirstAbsentEntryAndIgnoresLaterOnes()
    {
        var (env, handle, length) = await WriteAsync(3, 3, 3, 3, 3);
        await using var _ = env;
        var ensemble = handle.Metadata.Fragments[0].Bookies.ToArray();
        // Entry 4 without entry 3 can never have been acknowledged (completions are in order).
        Plant(env.Cluster, handle.Metadata, 4, 2, length + 10, ensemble);
        var recovered = await env.NewClient().OpenWithRecoveryAsync(handle.LedgerId);
        Assert.That(recovered.LastAddConfirmed, Is.EqualTo(2));
    }

    [Test]
    public async Task RecoveryCompletesWithOneBookieDownWhenCoverageAllows()
    {
        var (env, handle, _) = await WriteAsync(3, 3, 3, 2, 20);
        await using var __ = env;
        var ensemble = handle.Metadata.Fragments[0].Bookies.ToArray();
        env.Cluster[ensemble[1]].Down = true;
        var recovered = await env.NewClient().OpenWithRecoveryAsync(handle.LedgerId);
        Assert.That(recovered.IsClosed, Is.True);
        Assert.That(recovered.LastAddConfirmed, Is.EqualTo(19));
        Assert.That((await recovered.ReadAsync(0, 19)).Count, Is.EqualTo(20));
    }

    [Test]
    public async Task HungBookieDoesNotStallRecoveryAdds()
    {
        var env = new FakeLedgerEnvironment(3, new LedgerClientOptions { SpeculativeReadTimeout = TimeSpan.FromMilliseconds(100) });
        await using var _ = env;
        var handle = await env.Client.CreateLedgerAsync(3, 3, 2);
        long length = 0;
        for (int i = 0; i < 50; i++)
        {
            await handle.AddAsync(Payload(i));
            length += Payload(i).Length;
        }
        var ensemble = handle.Metadata.Fragments[0].Bookies.ToArray();
        for (int i = 50; i < 80; i++)
        {
            Plant(env.Cluster, handle.Metadata, i, 48, length, ensemble[0], ensemble[1]);
            length += Payload(i).Length;
        }
        env.Cluster[ensemble[2]].Hung = true;
        var watch = System.Diagnostics.Stopwatch.StartNew();
        var recovered = await env.NewClient().OpenWithRecoveryAsync(handle.LedgerId).WaitAsync(TimeSpan.FromSeconds(20));
        Assert.That(recovered.LastAddConfirmed, Is.EqualTo(79));
        Assert.That(recovered.Length, Is.EqualTo(length));
        Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)), "the default 10 s add timeout is not waited per entry");
    }

    [Test]
    public async Task RecoveryFailsWhenCoverageIsImpossibleAndSucceedsLater()
    {
        var (env, handle, _) = await WriteAsync(3, 3, 3, 2, 4);
        await using var __ = env;
        var ensemble = handle.Metadata.Fragments[0].Bookies.ToArray();
        env.Cluster[ensemble[0]].Down = true;
        env.Cluster[ensemble[2]].Down = true;
        var recoverer = env.NewClient();
        Assert.ThrowsAsync<LedgerRecoveryException>(() => recoverer.OpenWithRecoveryAsync(handle.LedgerId));
        Assert.That((await env.Ledgers.ReadAsync(handle.LedgerId))!.Metadata.State, Is.EqualTo(LedgerState.InRecovery));
        env.Cluster[ensemble[0]].Down = false;
        env.Cluster[ensemble[2]].Down = false;
        var recovered = await recoverer.OpenWithRecoveryAsync(handle.LedgerId);
        Assert.That(recovered.LastAddConfirmed, Is.EqualTo(3));
    }

    [Test]
    public async Task RacingRecoverersAgreeOnOneClosedState([Range(1, 6)] int seed)
    {
        var (env, handle, length) = await WriteAsync(4, 3, 3, 2, 10);
        await using var _ = env;
        env.Cluster.MaxJitterMicros = 3000;
        var ensemble = handle.Metadata.Fragments[0].Bookies.ToArray();
        // A partial tail: entry 10 on one bookie only, so the recoverers may legitimately decide differently.
        Plant(env.Cluster, handle.Metadata, 10, 9, length, ensemble[seed % 3]);
        var a = env.NewClient().OpenWithRecoveryAsync(handle.LedgerId);
        var b = env.NewClient().OpenWithRecoveryAsync(handle.LedgerId);
        var results = await Task.WhenAll(a, b);
        var stored = (await env.Ledgers.ReadAsync(handle.LedgerId))!.Metadata;
        Assert.That(stored.State, Is.EqualTo(LedgerState.Closed));
        Assert.That(results[0].LastAddConfirmed, Is.EqualTo(stored.LastEntryId));
        Assert.That(results[1].LastAddConfirmed, Is.EqualTo(stored.LastEntryId));
        Assert.That(stored.LastEntryId, Is.AnyOf(9L, 10L));
    }

    [Test]
    public async Task RecoveringAClosedLedgerChangesNothing()
    {
        var (env, handle, _) = await WriteAsync(3, 3, 2, 2, 7);
        await using var __ = env;
        await handle.CloseAsync();
        var before = (await env.Ledgers.ReadAsync(handle.LedgerId))!;
        var recovered = await env.NewClient().OpenWithRecoveryAsync(handle.LedgerId);
        var after = (await env.Ledgers.ReadAsync(handle.LedgerId))!;
        Assert.That(after.Version, Is.EqualTo(before.Version));
        Assert.That(recovered.LastAddConfirmed, Is.EqualTo(6));
    }

    [Test]
    public async Task RecoveryOfEmptyLedgerClosesItEmpty()
    {
        var (env, handle, _) = await WriteAsync(3, 3, 2, 2, 0);
        await using var __ = env;
        var recovered = await env.NewClient().OpenWithRecoveryAsync(handle.LedgerId);
        Assert.That(recovered.LastAddConfirmed, Is.EqualTo(-1));
        Assert.That(recovered.Length, Is.Zero);
    }
}
