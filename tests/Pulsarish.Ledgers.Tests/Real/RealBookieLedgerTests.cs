using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using Pulsarish.Protocol.Checksums;
using Pulsarish.Protocol.Errors;
using Pulsarish.Ledgers;
using Pulsarish.Protocol.Bookie;
using Pulsarish.Protocol.Metadata;
using Pulsarish.TestKit;

namespace Pulsarish.Ledgers.Tests.Real;

/// <summary>The ledger client against real in-process bookies (gRPC, real storage with fsync) and the embedded metadata store.</summary>
[TestFixture]
[NonParallelizable]
public sealed class RealBookieLedgerTests
{
    private static byte[] Payload(long i) => Encoding.UTF8.GetBytes($"message-{i}-{new string('x', (int)(i % 50))}");

    private static void AssertContent(IReadOnlyList<LedgerEntry> entries, long first)
    {
        for (int i = 0; i < entries.Count; i++)
        {
            Assert.That(entries[i].EntryId, Is.EqualTo(first + i));
            Assert.That(entries[i].Payload.ToArray(), Is.EqualTo(Payload(first + i)), $"entry {first + i}");
        }
    }

    [Test]
    public async Task StripingPutsEachEntryExactlyOnItsWriteSet()
    {
        await using var cluster = await RealBookieCluster.StartAsync(5);
        var client = cluster.NewClient();
        var handle = await client.CreateLedgerAsync(5, 2, 2);
        var tasks = Enumerable.Range(0, 100).Select(i => handle.AddAsync(Payload(i))).ToList();
        await Task.WhenAll(tasks);
        var ensemble = handle.Metadata.Fragments[0].Bookies;
        await using var raw = cluster.RawClient();
        for (int index = 0; index < 5; index++)
        {
            for (long entryId = 0; entryId < 100; entryId++)
            {
                var result = await raw.ReadEntryAsync(ensemble[index], handle.LedgerId, entryId, false, ReadOnlyMemory<byte>.Empty);
                bool inWriteSet = entryId % 5 == index || (entryId + 1) % 5 == index;
                if (inWriteSet)
                {
                    Assert.That(result.Status, Is.EqualTo(StatusCode.Ok), $"bookie {index} entry {entryId}");
                    Assert.That(LedgerEntryFormat.Payload(result.Payload).ToArray(), Is.EqualTo(Payload(entryId)));
                    Assert.That(EntryDigest.Verify(handle.LedgerId, entryId, result.Lac, result.Payload.Span, result.Digest), Is.True);
                }
                else
                {
                    Assert.That(result.Status, Is.AnyOf(StatusCode.NoSuchEntry, StatusCode.NoSuchLedger), $"bookie {index} entry {entryId}");
                }
            }
        }
    }

    [Test]
    public async Task SlowBookieDoesNotSlowAddsWhenAckQuorumIsReachedWithoutIt()
    {
        await using var cluster = await RealBookieCluster.StartAsync(3);
        string slow = cluster.BookieIds.First();
        var delay = TimeSpan.FromMilliseconds(400);
        var client = cluster.NewClient(wrap: inner => new DelayingBookieClient(inner, slow, delay));
        var handle = await client.CreateLedgerAsync(3, 3, 2);
        Assert.That(handle.Metadata.Fragments[0].Bookies, Does.Contain(slow));
        const int adds = 30;
        var watch = Stopwatch.StartNew();
        for (int i = 0; i < adds; i++)
        {
            await handle.AddAsync(Payload(i));
        }
        watch.Stop();
        TestContext.Out.WriteLine($"{adds} sequential adds took {watch.ElapsedMilliseconds} ms with one bookie delayed by {delay.TotalMilliseconds} ms");
        Assert.That(watch.Elapsed, Is.LessThan(delay * adds / 4), "adds completed at the speed of the two fast bookies");
        Assert.That(handle.Metadata.Fragments, Has.Count.EqualTo(1), "a slow bookie within the add timeout is not replaced");
        await Task.Delay(delay * 2);
        await using var raw = cluster.RawClient();
        var last = await raw.ReadEntryAsync(slow, handle.LedgerId, adds - 1, false, ReadOnlyMemory<byte>.Empty);
        Assert.That(last.Status, Is.EqualTo(StatusCode.Ok), "the slow bookie still received every entry");
    }

    [Test]
    public async Task StoppedBookieIsReplacedWhileTenThousandAddsStream()
    {
        await using var cluster = await RealBookieCluster.StartAsync(4);
        var client = cluster.NewClient(new LedgerClientOptions { MaxPendingAdds = 1000 });
        var handle = await client.CreateLedgerAsync(3, 2, 2);
        var initial = handle.Metadata.Fragments[0].Bookies.ToArray();
        const int total = 10_000;
        var tasks = new Task<long>[total];
        Task? stop = null;
        for (int i = 0; i < total; i++)
        {
            tasks[i] = handle.AddAsync(Payload(i));
            if (i == 3000)
            {
                await tasks[2000];
                stop = cluster.StopBookieAsync(initial[1]);
            }
        }
        await stop!;
        var ids = await Task.WhenAll(tasks).WaitAsync(TimeSpan.FromSeconds(60));
        Assert.That(ids, Is.EqualTo(Enumerable.Range(0, total).Select(i => (long)i)));
        await handle.CloseAsync();

        var metadata = (await cluster.MetadataStore.ReadAsync(handle.LedgerId))!.Value.Metadata;
        Assert.That(metadata.Fragments, Has.Count.EqualTo(2));
        var second = metadata.Fragments[1];
        Assert.That(second.FirstEntryId, Is.GreaterThan(2000));
        Assert.That(second.Bookies, Does.Not.Contain(initial[1]));
        string replacement = second.Bookies[1];
        Assert.That(initial, Does.Not.Contain(replacement));
        await using var raw = cluster.RawClient();
        for (long entryId = second.FirstEntryId; entryId < total; entryId += 97)
        {
            bool inWriteSet = WriteSet.Contains(entryId, 1, 3, 2);
            var result = await raw.ReadEntryAsync(replacement, handle.LedgerId, entryId, false, ReadOnlyMemory<byte>.Empty);
            Assert.That(result.Status == StatusCode.Ok, Is.EqualTo(inWriteSet), $"replacement holds entry {entryId} iff in its write set");
        }

        var reader = await cluster.NewClient().OpenReadOnlyAsync(handle.LedgerId);
        Assert.That(reader.LastAddConfirmed, Is.EqualTo(total - 1));
        AssertContent(await reader.ReadAsync(0, total - 1), 0);
    }

    [Test]
    public async Task UnresponsiveBookieIsReplacedAfterAddTimeoutAndReadsGoAroundIt()
    {
        await using var cluster = await RealBookieCluster.StartAsync(0);
        for (int i = 0; i < 4; i++)
        {
            await cluster.StartBookieAsync(behindProxy: true);
        }
        var options = new LedgerClientOptions
        {
            AddTimeout = TimeSpan.FromSeconds(1),
            SpeculativeReadTimeout = TimeSpan.FromMilliseconds(100),
            ReadTimeout = TimeSpan.FromSeconds(2),
        };
        var handle = await cluster.NewClient(options).CreateLedgerAsync(3, 3, 3);
        for (int i = 0; i < 20; i++)
        {
            await handle.AddAsync(Payload(i));
        }
        string frozen = handle.Metadata.Fragments[^1].Bookies[1];
        cluster.Proxy(frozen).Freeze();
        var watch = Stopwatch.StartNew();
        for (int i = 20; i < 40; i++)
        {
            await handle.AddAsync(Payload(i)).WaitAsync(TimeSpan.FromSeconds(10));
        }
        TestContext.Out.WriteLine($"20 adds across the stall took {watch.ElapsedMilliseconds} ms");
        var metadata = handle.Metadata;
        TestContext.Out.WriteLine(string.Join(" | ", metadata.Fragments.Select(f => $"{f.FirstEntryId}: {string.Join(",", f.Bookies)}")));
        // Entry 20 is the first add that needs the frozen bookie (E = Qw = Qa = 3): the change starts there.
        Assert.That(metadata.Fragments.Select(f => f.FirstEntryId), Does.Contain(20L));
        Assert.That(metadata.Fragments[^1].Bookies, Does.Not.Contain(frozen));
        // Entries 0..19 have a copy on the frozen bookie: reads move on after the speculative timeout.
        watch.Restart();
        AssertContent(await handle.ReadAsync(0, 39), 0);
        TestContext.Out.WriteLine($"40 reads with one frozen copy took {watch.ElapsedMilliseconds} ms");
        Assert.That(watch.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)));
    }

    [Test]
    public async Task LedgerWhoseBookiesAllStoppedClosesAtItsLac()
    {
        await using var cluster = await RealBookieCluster.StartAsync(3);
        var client = cluster.NewClient();
        var handle = await client.CreateLedgerAsync(3, 3, 2);
        for (int i = 0; i < 10; i++)
        {
            await handle.AddAsync(Payload(i));
        }
        foreach (string bookieId in cluster.BookieIds.ToList())
        {
            await cluster.StopBookieAsync(bookieId);
        }
        var failed = handle.AddAsync(Payload(10));
        // Refused connections (or the add timeout) make the handle replace bookies; none is left.
        var error = Assert.CatchAsync<Exception>(() => failed.WaitAsync(TimeSpan.FromSeconds(60)));
        TestContext.Out.WriteLine($"add after every bookie stopped failed with {error?.GetType().Name}: {error?.Message}");
        Assert.That(handle.IsWritable, Is.False);
        Assert.That(handle.LastAddConfirmed, Is.EqualTo(9));

        await handle.CloseAsync();
        var metadata = (await cluster.MetadataStore.ReadAsync(handle.LedgerId))!.Value.Metadata;
        Assert.That(metadata.State, Is.EqualTo(LedgerState.Closed));
        Assert.That(metadata.LastEntryId, Is.EqualTo(9), "closed at the LAC, the failed add excluded");
        Assert.That(metadata.Length, Is.EqualTo(Enumerable.Range(0, 10).Sum(i => (long)Payload(i).Length)));
    }

    [Test]
    public async Task OldWriterIsFencedAfterRecovery()
    {
        await using var cluster = await RealBookieCluster.StartAsync(3);
        var writerClient = cluster.NewClient();
        var writer = await writerClient.CreateLedgerAsync(3, 3, 2);
        var acked = new ConcurrentBag<long>();
        var failures = new ConcurrentBag<Exception>();
        using var stopWriting = new CancellationTokenSource();
        var writing = Task.Run(async () =>
        {
            var window = new Queue<Task>();
            for (long i = 0; !stopWriting.IsCancellationRequested; i++)
            {
                long id = i;
                window.Enqueue(writer.AddAsync(Payload(i)).ContinueWith(t =>
                {
                    if (t.IsCompletedSuccessfully) acked.Add(t.Result);
                    else failures.Add(t.Exception!.InnerException!);
                }, TaskScheduler.Default));
                if (window.Count >= 200)
                {
                    await window.Dequeue();
                }
                if (!writer.IsWritable)
                {
                    break;
                }
            }
            await Task.WhenAll(window);
        });
        await Eventually.That(() => acked.Count >= 2000, TimeSpan.FromSeconds(60), "2000 adds acknowledged before the recovery");
        var recovered = await cluster.NewClient().OpenWithRecoveryAsync(writer.LedgerId);
        int ackedAtRecovery = acked.Count;
        await Task.Delay(200);
        stopWriting.Cancel();
        await writing.WaitAsync(TimeSpan.FromSeconds(30));

        long last = recovered.LastAddConfirmed;
        var ackedIds = acked.OrderBy(x => x).ToList();
        TestContext.Out.WriteLine($"acked {ackedIds.Count} ({ackedAtRecovery} when recovery returned), closed at {last}, failures {failures.Count}");
        Assert.That(ackedIds, Is.EqualTo(Enumerable.Range(0, ackedIds.Count).Select(x => (long)x)), "acknowledged ids are a prefix");
        Assert.That(ackedIds[^1], Is.LessThanOrEqualTo(last), "every acknowledged entry is in the closed ledger");
        Assert.That(failures, Is.Not.Empty);
        Assert.That(failures.All(f => f is LedgerFencedException), Is.True, string.Join("; ", failures.Select(f => f.GetType().Name).Distinct()));
        Assert.ThrowsAsync<LedgerFencedException>(() => writer.AddAsync(Payload(1_000_000)));
        var metadata = (await cluster.MetadataStore.ReadAsync(writer.LedgerId))!.Value.Metadata;
        Assert.That(metadata.State, Is.EqualTo(LedgerState.Closed));
        Assert.That(metadata.LastEntryId, Is.EqualTo(last));
        AssertContent(await recovered.ReadAsync(0, last), 0);
        Assert.That(metadata.Length, Is.EqualTo(Enumerable.Range(0, (int)last + 1).Sum(i => (long)Payload(i).Length)));
    }

    [Test]
    public async Task RecoveryCompletesWithOneBookieOfTheEnsembleDown()
    {
        await using var cluster = await RealBookieCluster.StartAsync(3);
        var writer = await cluster.NewClient().CreateLedgerAsync(3, 3, 2);
        for (int i = 0; i < 50; i++)
        {
            _ = writer.AddAsync(Payload(i));
        }
        await writer.AddAsync(Payload(50));
        await cluster.StopBookieAsync(writer.Metadata.Fragments[0].Bookies[2]);
        var recovered = await cluster.NewClient().OpenWithRecoveryAsync(writer.LedgerId);
        Assert.That(recovered.LastAddConfirmed, Is.EqualTo(50));
        AssertContent(await recovered.ReadAsync(0, 50), 0);
    }

    [Test]
    public async Task PartialTailEntriesAreRecoveredToFullWriteSetOrAbsent()
    {
        await using var cluster = await RealBookieCluster.StartAsync(3);
        var writer = await cluster.NewClient().CreateLedgerAsync(3, 3, 2);
        long length = 0;
        for (int i = 0; i < 10; i++)
        {
            await writer.AddAsync(Payload(i));
            length += Payload(i).Length;
        }
        var metadata = writer.Metadata;
        var ensemble = metadata.Fragments[0].Bookies.ToArray();
        await using var raw = cluster.RawClient();
        // Pipelined before the writer died (both carry LAC 9): entry 10 reached two bookies (Qa: may have been
        // acknowledged), entry 11 one bookie (never acknowledged).
        await RawAddAsync(raw, metadata, 10, 9, length, ensemble[0], ensemble[1]);
        await RawAddAsync(raw, metadata, 11, 9, length + Payload(10).Length, ensemble[2]);
        var recovered = await cluster.NewClient().OpenWithRecoveryAsync(writer.LedgerId);
        Assert.That(recovered.LastAddConfirmed, Is.AnyOf(10L, 11L));
        for (long entryId = 10; entryId <= recovered.LastAddConfirmed; entryId++)
        {
            foreach (var bookie in ensemble)
            {
                var result = await raw.ReadEntryAsync(bookie, writer.LedgerId, entryId, false, ReadOnlyMemory<byte>.Empty);
                Assert.That(result.Status, Is.EqualTo(StatusCode.Ok), $"recovered entry {entryId} on {bookie}");
            }
        }
        AssertContent(await recovered.ReadAsync(0, recovered.LastAddConfirmed), 0);
        Assert.ThrowsAsync<ReadBeyondLastEntryException>(() => recovered.ReadAsync(0, recovered.LastAddConfirmed + 1));
    }

    [Test]
    public async Task RacingRecoverersEndWithOneClosedStateAndIdenticalLastEntry()
    {
        await using var cluster = await RealBookieCluster.StartAsync(3);
        var writer = await cluster.NewClient().CreateLedgerAsync(3, 3, 2);
        var tasks = Enumerable.Range(0, 500).Select(i => writer.AddAsync(Payload(i))).ToList();
        await tasks[300];
        var a = cluster.NewClient().OpenWithRecoveryAsync(writer.LedgerId);
        var b = cluster.NewClient().OpenWithRecoveryAsync(writer.LedgerId);
        var both = await Task.WhenAll(a, b);
        await Task.WhenAll(tasks.Select(t => t.ContinueWith(_ => { }, TaskScheduler.Default)));
        var metadata = (await cluster.MetadataStore.ReadAsync(writer.LedgerId))!.Value.Metadata;
        Assert.That(metadata.State, Is.EqualTo(LedgerState.Closed));
        Assert.That(both[0].LastAddConfirmed, Is.EqualTo(metadata.LastEntryId));
        Assert.That(both[1].LastAddConfirmed, Is.EqualTo(metadata.LastEntryId));
        long maxAcked = tasks.Where(t => t.IsCompletedSuccessfully).Select(t => t.Result).DefaultIfEmpty(-1).Max();
        Assert.That(maxAcked, Is.LessThanOrEqualTo(metadata.LastEntryId));
        AssertContent(await both[0].ReadAsync(0, metadata.LastEntryId), 0);
    }

    private static async Task RawAddAsync(GrpcBookieClient raw, LedgerMetadata metadata, long entryId, long lac, long lengthBefore,
        params string[] bookies)
    {
        var stored = LedgerEntryFormat.Encode(lengthBefore + Payload(entryId).Length, Payload(entryId));
        var request = new BookieAddRequest(metadata.LedgerId, entryId, metadata.MasterKey.ToByteArray(), lac,
            EntryDigest.Compute(metadata.LedgerId, entryId, lac, stored), stored, Recovery: false);
        foreach (var bookie in bookies)
        {
            var answer = new TaskCompletionSource<StatusCode>(TaskCreationOptions.RunContinuationsAsynchronously);
            raw.AddEntry(bookie, request, new CallbackAdapter(answer), null);
            Assert.That(await answer.Task.WaitAsync(TimeSpan.FromSeconds(10)), Is.EqualTo(StatusCode.Ok));
        }
    }

    private sealed class CallbackAdapter(TaskCompletionSource<StatusCode> answer) : IAddCallback
    {
        public void AddComplete(StatusCode status, string bookieId, long ledgerId, long entryId, object? context)
            => answer.TrySetResult(status);
    }
}
