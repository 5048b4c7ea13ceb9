using Pulsarish.Protocol.Checksums;
using Pulsarish.Ledgers;
using Pulsarish.Protocol.Bookie;

namespace Pulsarish.Ledgers.Tests.Real;

/// <summary>
/// The ledger client's AddBatch transport against a real bookie: natural batching within the configured bound,
/// one answer per add, and a stream that breaks with a batch in flight.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class BatchedBookieTransportTests
{
    private static readonly byte[] MasterKey = "0123456789abcdefghij"u8.ToArray();

    private static BookieAddRequest Request(long ledgerId, long entryId)
    {
        var stored = LedgerEntryFormat.Encode(entryId + 1, BitConverter.GetBytes(entryId));
        return new BookieAddRequest(ledgerId, entryId, MasterKey, entryId - 1,
            EntryDigest.Compute(ledgerId, entryId, entryId - 1, stored), stored, Recovery: false);
    }

    /// <summary>Counts answers per (ledger, entry) and by status; completes once the expected number arrived.</summary>
    private sealed class Answers(int expected) : IAddCallback
    {
        private readonly Dictionary<(long, long), int> _perAdd = new();
        private readonly Dictionary<StatusCode, int> _byStatus = new();
        private readonly TaskCompletionSource _all = new(TaskCreationOptions.RunContinuationsAsynchronously);
        private int _count;

        public Task All => _all.Task;

        public void AddComplete(StatusCode status, string bookieId, long ledgerId, long entryId, object? context)
        {
            lock (_perAdd)
            {
                _perAdd[(ledgerId, entryId)] = _perAdd.GetValueOrDefault((ledgerId, entryId)) + 1;
                _byStatus[status] = _byStatus.GetValueOrDefault(status) + 1;
                if (++_count == expected)
                {
                    _all.TrySetResult();
                }
            }
        }

        public int Distinct { get { lock (_perAdd) { return _perAdd.Count; } } }

        public int MostAnswersOfOneAdd { get { lock (_perAdd) { return _perAdd.Values.DefaultIfEmpty(0).Max(); } } }

        public int Count(StatusCode status) { lock (_perAdd) { return _byStatus.GetValueOrDefault(status); } }
    }

    [Test]
    public async Task QueuedAddsShareRequestMessagesWithinMaxAddsPerBatchMessage()
    {
        const int writers = 4;
        const int addsPerWriter = 500;
        const int maxAddsPerMessage = 16;
        await using var cluster = await RealBookieCluster.StartAsync(1);
        string bookie = cluster.BookieIds.Single();
        await using var client = new GrpcBookieClient(new RegistryBookieDirectory(cluster.Registry),
            new LedgerClientOptions { MaxAddsPerBatchMessage = maxAddsPerMessage });
        var answers = new Answers(writers * addsPerWriter);

        await Task.WhenAll(Enumerable.Range(1, writers).Select(ledger => Task.Run(() =>
        {
            for (long entry = 0; entry < addsPerWriter; entry++)
            {
                client.AddEntry(bookie, Request(ledger, entry), answers, null);
            }
        })));
        await answers.All.WaitAsync(TimeSpan.FromSeconds(20));

        Assert.That(answers.Count(StatusCode.Ok), Is.EqualTo(writers * addsPerWriter));
        Assert.That(answers.Distinct, Is.EqualTo(writers * addsPerWriter));
        Assert.That(answers.MostAnswersOfOneAdd, Is.EqualTo(1));
        double messages = cluster.Server(bookie).Metrics.AddRequestMessages.Value;
        Assert.That(messages, Is.GreaterThanOrEqualTo(writers * addsPerWriter / maxAddsPerMessage), "bound exceeded");
        Assert.That(messages, Is.LessThan(writers * addsPerWriter / 2), "queued adds were not batched");
        for (long ledger = 1; ledger <= writers; ledger++)
        {
            var lac = await client.ReadLacAsync(bookie, ledger);
            Assert.That(lac.LastEntryId, Is.EqualTo(addsPerWriter - 1));
        }
    }

    [Test]
    public async Task StreamBrokenWithABatchInFlightAnswersEachAddErrorOnceAndTheNextAddReconnects()
    {
        const int adds = 200;
        await using var cluster = await RealBookieCluster.StartAsync(0);
        string bookie = await cluster.StartBookieAsync(behindProxy: true);
        await using var client = cluster.RawClient();
        var first = new Answers(1);
        client.AddEntry(bookie, Request(1, 0), first, null);
        await first.All.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(first.Count(StatusCode.Ok), Is.EqualTo(1), "stream open");

        var proxy = cluster.Proxy(bookie);
        proxy.Freeze();
        var inFlight = new Answers(adds);
        for (long entry = 1; entry <= adds; entry++)
        {
            client.AddEntry(bookie, Request(1, entry), inFlight, null);
        }
        // Written into the frozen connection (a few KiB: the socket buffers take it), never delivered.
        await Task.Delay(500);
        Assert.That(inFlight.Distinct, Is.Zero, "nothing can be answered while the connection is frozen");
        proxy.Sever();
        await inFlight.All.WaitAsync(TimeSpan.FromSeconds(10));

        Assert.That(inFlight.Count(StatusCode.Error), Is.EqualTo(adds));
        Assert.That(inFlight.Distinct, Is.EqualTo(adds));
        Assert.That(inFlight.MostAnswersOfOneAdd, Is.EqualTo(1));

        proxy.Heal();
        var after = new Answers(1);
        client.AddEntry(bookie, Request(2, 0), after, null);
        await after.All.WaitAsync(TimeSpan.FromSeconds(10));
        Assert.That(after.Count(StatusCode.Ok), Is.EqualTo(1), "a new stream after the break");
        Assert.That(cluster.Server(bookie).Storage.GetLedgerInfo(1)?.LastEntryId, Is.EqualTo(0),
            "the severed batch never reached the bookie");
    }
}
