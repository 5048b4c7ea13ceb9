using Pulsarish.Protocol.Checksums;
using Pulsarish.Ledgers;
using Pulsarish.Protocol.Bookie;

namespace Pulsarish.Ledgers.Tests.Real;

/// <summary>The gRPC transport against a real bookie: statuses instead of exceptions, fencing, stream recovery.</summary>
[TestFixture]
[NonParallelizable]
public sealed class GrpcBookieClientTests
{
    private static readonly byte[] MasterKey = "0123456789abcdefghij"u8.ToArray();

    private static BookieAddRequest Request(long ledgerId, long entryId, bool recovery = false)
    {
        var stored = LedgerEntryFormat.Encode(entryId + 1, new byte[] { (byte)entryId });
        return new BookieAddRequest(ledgerId, entryId, MasterKey, entryId - 1,
            EntryDigest.Compute(ledgerId, entryId, entryId - 1, stored), stored, recovery);
    }

    private static async Task<StatusCode> AddAsync(GrpcBookieClient client, string bookieId, BookieAddRequest request)
    {
        var answer = new TaskCompletionSource<StatusCode>(TaskCreationOptions.RunContinuationsAsynchronously);
        client.AddEntry(bookieId, request, new Answer(answer), null);
        return await answer.Task.WaitAsync(TimeSpan.FromSeconds(10));
    }

    private sealed class Answer(TaskCompletionSource<StatusCode> answer) : IAddCallback
    {
        public void AddComplete(StatusCode status, string bookieId, long ledgerId, long entryId, object? context)
            => answer.TrySetResult(status);
    }

    [Test]
    public async Task FencedLedgerRefusesNormalAddsButTakesRecoveryAdds()
    {
        await using var cluster = await RealBookieCluster.StartAsync(1);
        string bookie = cluster.BookieIds.Single();
        await using var client = cluster.RawClient();
        Assert.That(await AddAsync(client, bookie, Request(7, 0)), Is.EqualTo(StatusCode.Ok));
        var lac = await client.ReadLacAsync(bookie, 7);
        Assert.That(lac.Status, Is.EqualTo(StatusCode.Ok));
        Assert.That(lac.LastEntryId, Is.EqualTo(0));
        var fence = await client.FenceAsync(bookie, 7, MasterKey);
        Assert.That(fence.Status, Is.EqualTo(StatusCode.Ok));
        Assert.That(await AddAsync(client, bookie, Request(7, 1)), Is.EqualTo(StatusCode.Fenced));
        Assert.That(await AddAsync(client, bookie, Request(7, 1, recovery: true)), Is.EqualTo(StatusCode.Ok));
        var read = await client.ReadEntryAsync(bookie, 7, 1, false, ReadOnlyMemory<byte>.Empty);
        Assert.That(read.Status, Is.EqualTo(StatusCode.Ok));
        Assert.That(EntryDigest.Verify(7, 1, read.Lac, read.Payload.Span, read.Digest), Is.True);
        var missing = await client.ReadEntryAsync(bookie, 7, 5, false, ReadOnlyMemory<byte>.Empty);
        Assert.That(missing.Status, Is.EqualTo(StatusCode.NoSuchEntry));
    }

    [Test]
    public async Task UnknownOrStoppedBookiesAnswerErrorInsteadOfThrowing()
    {
        await using var cluster = await RealBookieCluster.StartAsync(2);
        var ids = cluster.BookieIds.ToArray();
        await using var client = cluster.RawClient();
        Assert.That(await AddAsync(client, "no-such-bookie", Request(1, 0)), Is.EqualTo(StatusCode.Error));
        Assert.That((await client.ReadEntryAsync("no-such-bookie", 1, 0, false, default)).Status, Is.EqualTo(StatusCode.Error));
        Assert.That(await AddAsync(client, ids[0], Request(1, 0)), Is.EqualTo(StatusCode.Ok));
        await cluster.StopBookieAsync(ids[0]);
        Assert.That(await AddAsync(client, ids[0], Request(1, 1)), Is.EqualTo(StatusCode.Error));
        Assert.That((await client.ReadLacAsync(ids[0], 1)).Status, Is.EqualTo(StatusCode.Error));
        Assert.That((await client.FenceAsync(ids[0], 1, MasterKey)).Status, Is.EqualTo(StatusCode.Error));
        // The other bookie's stream is unaffected.
        Assert.That(await AddAsync(client, ids[1], Request(1, 0)), Is.EqualTo(StatusCode.Ok));
    }

    [Test]
    public async Task ManyPipelinedAddsOnOneStreamAreAllAnswered()
    {
        await using var cluster = await RealBookieCluster.StartAsync(1);
        string bookie = cluster.BookieIds.Single();
        await using var client = cluster.RawClient();
        var answers = new List<Task<StatusCode>>();
        for (long ledger = 1; ledger <= 4; ledger++)
        {
            for (long entry = 0; entry < 2000; entry++)
            {
                answers.Add(AddAsync(client, bookie, Request(ledger, entry)));
            }
        }
        var statuses = await Task.WhenAll(answers);
        Assert.That(statuses, Is.All.EqualTo(StatusCode.Ok));
    }
}
