using System.Collections.Concurrent;
using System.Text;
using Pulsarish.Protocol.Checksums;
using Pulsarish.Protocol.Errors;
using Pulsarish.Ledgers;
using Pulsarish.Protocol.Bookie;
using Pulsarish.Protocol.Metadata;
using Pulsarish.TestKit;

namespace Pulsarish.Ledgers.Tests.Real;

/// <summary>
/// The local bookie transport (<see cref="LocalBookieClient"/> over <c>BookieHost.Local</c>, what the standalone
/// broker writes through) against real in-process bookies with real storage: the same statuses as the gRPC
/// service, entries that gRPC readers find byte-for-byte, fencing across transports, and ensemble change when a
/// local bookie stops.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class LocalBookieTransportTests
{
    private static readonly byte[] Key = "local-key"u8.ToArray();

    private static byte[] Payload(long i) => Encoding.UTF8.GetBytes($"local-{i}-{new string('y', (int)(i % 70))}");

    [Test]
    public async Task EntriesWrittenThroughLocalBookiesAreReadBackOverGrpcFromTheirWriteSets()
    {
        await using var cluster = await RealBookieCluster.StartAsync(3);
        var local = cluster.NewLocalClient();
        var handle = await local.CreateLedgerAsync(3, 2, 2);
        await Task.WhenAll(Enumerable.Range(0, 300).Select(i => handle.AddAsync(Payload(i))));
        await handle.CloseAsync();

        var reader = await cluster.NewClient().OpenReadOnlyAsync(handle.LedgerId);
        var entries = await reader.ReadAsync(0, 299);
        Assert.That(entries.Select(e => e.Payload.ToArray()), Is.EqualTo(Enumerable.Range(0, 300).Select(i => Payload(i))));

        var ensemble = handle.Metadata.Fragments[0].Bookies;
        await using var raw = cluster.RawClient();
        for (long entryId = 0; entryId < 300; entryId += 7)
        {
            for (int index = 0; index < 3; index++)
            {
                var result = await raw.ReadEntryAsync(ensemble[index], handle.LedgerId, entryId, false, ReadOnlyMemory<byte>.Empty);
                bool inWriteSet = entryId % 3 == index || (entryId + 1) % 3 == index;
                Assert.That(result.Status, inWriteSet ? Is.EqualTo(StatusCode.Ok) : Is.AnyOf(StatusCode.NoSuchEntry, StatusCode.NoSuchLedger),
                    $"bookie {index} entry {entryId}");
                if (inWriteSet)
                {
                    Assert.That(EntryDigest.Verify(handle.LedgerId, entryId, result.Lac, result.Payload.Span, result.Digest), Is.True);
                }
            }
        }
    }

    [Test]
    public async Task LocalBookieAnswersEachAddWithTheStatusTheGrpcServiceGives()
    {
        await using var cluster = await RealBookieCluster.StartAsync(1);
        var bookie = cluster.Server(cluster.BookieIds.Single()).Local;
        byte[] data = "entry"u8.ToArray();

        Assert.That(await AddAsync(bookie, Add(7, 0, data)), Is.EqualTo(StatusCode.Ok));
        var badDigest = Add(7, 1, data) with { Digest = EntryDigest.Compute(7, 1, -1, data) ^ 1 };
        Assert.That(await AddAsync(bookie, badDigest), Is.EqualTo(StatusCode.BadRequest));
        Assert.That(await AddAsync(bookie, Add(7, 2, new byte[6 * 1024 * 1024])), Is.EqualTo(StatusCode.TooLarge));
        Assert.That(await AddAsync(bookie, Add(-1, 0, data)), Is.EqualTo(StatusCode.BadRequest));
        Assert.That(await AddAsync(bookie, Add(7, 3, data, key: "other"u8.ToArray())), Is.EqualTo(StatusCode.Unauthorized));

        var read = await bookie.ReadEntryAsync(7, 0, fence: false, ReadOnlyMemory<byte>.Empty);
        Assert.That(read.Status, Is.EqualTo(StatusCode.Ok));
        Assert.That(read.Payload.ToArray(), Is.EqualTo(data));
        Assert.That(EntryDigest.Verify(7, 0, read.Lac, read.Payload.Span, read.Digest), Is.True);
        Assert.That((await bookie.ReadEntryAsync(7, 1, false, ReadOnlyMemory<byte>.Empty)).Status, Is.EqualTo(StatusCode.NoSuchEntry));
        Assert.That((await bookie.ReadLacAsync(8)).Status, Is.EqualTo(StatusCode.NoSuchLedger));

        var fence = await bookie.FenceAsync(7, Key);
        Assert.That(fence, Is.EqualTo(new BookieLacResult(StatusCode.Ok, -1, 0, Fenced: true)));
        Assert.That(await AddAsync(bookie, Add(7, 1, data)), Is.EqualTo(StatusCode.Fenced));
        Assert.That(await AddAsync(bookie, Add(7, 1, data) with { Recovery = true }), Is.EqualTo(StatusCode.Ok));
        var lac = await bookie.ReadLacAsync(7);
        Assert.That((lac.Status, lac.LastEntryId, lac.Fenced), Is.EqualTo((StatusCode.Ok, 1L, true)));

        // What the gRPC service says about the same ledger: one storage, one truth.
        await using var raw = cluster.RawClient();
        var overGrpc = await raw.ReadEntryAsync(bookie.BookieId, 7, 1, false, ReadOnlyMemory<byte>.Empty);
        Assert.That((overGrpc.Status, overGrpc.Payload.ToArray()), Is.EqualTo((StatusCode.Ok, data)));

        await cluster.StopBookieAsync(bookie.BookieId);
        Assert.That(await AddAsync(bookie, Add(9, 0, data)), Is.EqualTo(StatusCode.ShuttingDown));
        Assert.That((await bookie.ReadEntryAsync(7, 0, false, ReadOnlyMemory<byte>.Empty)).Status, Is.Not.EqualTo(StatusCode.Ok));
    }

    [Test]
    public async Task WriterOnLocalBookiesIsFencedByARecoveryOverGrpc()
    {
        await using var cluster = await RealBookieCluster.StartAsync(3);
        var writer = await cluster.NewLocalClient().CreateLedgerAsync(3, 3, 2);
        for (int i = 0; i < 50; i++)
        {
            await writer.AddAsync(Payload(i));
        }

        var recovered = await cluster.NewClient().OpenWithRecoveryAsync(writer.LedgerId);
        Assert.That(recovered.LastAddConfirmed, Is.EqualTo(49));
        Assert.ThrowsAsync<LedgerFencedException>(() => writer.AddAsync(Payload(50)));
        var metadata = (await cluster.MetadataStore.ReadAsync(writer.LedgerId))!.Value.Metadata;
        Assert.That((metadata.State, metadata.LastEntryId), Is.EqualTo((LedgerState.Closed, 49L)));
    }

    [Test]
    public async Task StoppingALocalBookieMidStreamChangesTheEnsembleAndLosesNoAcknowledgedEntry()
    {
        await using var cluster = await RealBookieCluster.StartAsync(4);
        var client = cluster.NewLocalClient();
        var handle = await client.CreateLedgerAsync(3, 3, 2);
        var acked = new ConcurrentBag<long>();
        var writing = Task.Run(async () =>
        {
            var window = new Queue<Task<long>>();
            for (int i = 0; i < 3000; i++)
            {
                window.Enqueue(handle.AddAsync(Payload(i)));
                if (window.Count >= 100)
                {
                    acked.Add(await window.Dequeue());
                }
            }

            while (window.Count > 0)
            {
                acked.Add(await window.Dequeue());
            }
        });
        await Eventually.That(() => acked.Count >= 500, TimeSpan.FromSeconds(60), "500 adds acknowledged before the recovery",
            TimeSpan.FromMilliseconds(5));

        string victim = handle.Metadata.Fragments[0].Bookies[1];
        await cluster.StopBookieAsync(victim);
        await writing.WaitAsync(TimeSpan.FromSeconds(60));
        await handle.CloseAsync();

        var metadata = handle.Metadata;
        Assert.That(metadata.Fragments.Count, Is.GreaterThan(1), "the stopped bookie was replaced");
        Assert.That(metadata.Fragments[^1].Bookies, Does.Not.Contain(victim));
        Assert.That(acked.OrderBy(x => x), Is.EqualTo(Enumerable.Range(0, 3000).Select(x => (long)x)));
        var entries = await (await cluster.NewClient().OpenReadOnlyAsync(handle.LedgerId)).ReadAsync(0, 2999);
        Assert.That(entries.Select(e => e.Payload.ToArray()), Is.EqualTo(Enumerable.Range(0, 3000).Select(i => Payload(i))));
    }

    private static BookieAddRequest Add(long ledgerId, long entryId, byte[] payload, byte[]? key = null)
        => new(ledgerId, entryId, key ?? Key, -1, EntryDigest.Compute(ledgerId, entryId, -1, payload), payload, Recovery: false);

    private static Task<StatusCode> AddAsync(ILocalBookie bookie, BookieAddRequest request)
    {
        var callback = new Callback();
        bookie.AddEntry(request, callback, context: null);
        return callback.Status.Task.WaitAsync(TimeSpan.FromSeconds(30));
    }

    private sealed class Callback : IAddCallback
    {
        public TaskCompletionSource<StatusCode> Status { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);

        public void AddComplete(StatusCode status, string bookieId, long ledgerId, long entryId, object? context)
            => Status.TrySetResult(status);
    }
}
