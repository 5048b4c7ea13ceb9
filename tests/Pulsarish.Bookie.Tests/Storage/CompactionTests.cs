using Pulsarish.Bookie.Storage;
using Pulsarish.Protocol.Errors;
using Pulsarish.TestKit;

namespace Pulsarish.Bookie.Tests.Storage;

public class CompactionTests : StorageTestBase
{
    [Test]
    public async Task CompactionReclaimsDiskAndKeepsLiveEntries()
    {
        int seed = TestSeed.Use();
        var random = new Random(seed);
        StorageOptions options = Options(o =>
        {
            o.EntryLogMaxFileBytes = 256 * 1024;
            o.WriteCacheMaxBytes = 2 * 1024 * 1024;
            o.MaxEntryBytes = 64 * 1024;
        });
        LedgerStorage storage = Open(options);
        const int ledgers = 40;
        var sizes = new Dictionary<(long, long), int>();
        // Interleave the ledgers so that every entry log holds entries of many of them.
        for (long entry = 0; entry < 20; entry++)
        {
            var adds = new Task[ledgers];
            for (long ledger = 1; ledger <= ledgers; ledger++)
            {
                int size = random.Next(500, 3000);
                sizes[(ledger, entry)] = size;
                adds[ledger - 1] = storage.AddEntryAsync(ledger, entry, Key, entry - 1, Payload(ledger, entry, size), recovery: false).AsTask();
            }
            await Task.WhenAll(adds);
            if (entry % 5 == 4)
            {
                await storage.FlushAsync();
            }
        }
        await storage.FlushAsync();
        long before = LedgersDirBytes(options);
        int logsBefore = Directory.GetFiles(options.LedgersDir, "*.log").Length;
        Assert.That(logsBefore, Is.GreaterThan(3), "entries spread over several entry logs");

        // Every ledger not divisible by 5 is deleted: 80% of the data.
        Func<long, bool> isLive = ledger => ledger % 5 == 0;
        GcResult result = await storage.CollectGarbageAsync(isLive);
        long after = LedgersDirBytes(options);
        TestContext.Out.WriteLine($"{result}; {before} → {after} bytes, {logsBefore} → {Directory.GetFiles(options.LedgersDir, "*.log").Length} logs");

        Assert.That(result.LedgersDeleted, Is.EqualTo(32));
        Assert.That(result.EntryLogsCompacted + result.EntryLogsDeleted, Is.GreaterThan(0));
        Assert.That(after, Is.LessThan(before / 2));
        Assert.That(storage.ListLedgers(), Is.EqualTo(new long[] { 5, 10, 15, 20, 25, 30, 35, 40 }));
        await AssertContent(storage, sizes, isLive);

        // The compacted state survives a restart.
        await storage.DisposeAsync();
        LedgerStorage reopened = Open(options);
        await AssertContent(reopened, sizes, isLive);
    }

    [Test]
    public async Task EntryLogsOfDeletedLedgersAreReclaimedAfterRestart()
    {
        StorageOptions options = Options(o => o.EntryLogMaxFileBytes = 128 * 1024);
        LedgerStorage storage = Open(options);
        // Ledger by ledger, so that the first ledgers own whole entry logs.
        for (long ledger = 1; ledger <= 6; ledger++)
        {
            var adds = new Task[50];
            for (long entry = 0; entry < 50; entry++)
            {
                adds[entry] = storage.AddEntryAsync(ledger, entry, Key, entry - 1, Payload(ledger, entry, 4000), recovery: false).AsTask();
            }
            await Task.WhenAll(adds);
            await storage.FlushAsync();
        }
        await storage.DisposeAsync();
        long before = LedgersDirBytes(options);

        // The per-log usage comes back from the index: the new instance knows which logs hold what.
        LedgerStorage reopened = Open(options);
        GcResult result = await reopened.CollectGarbageAsync(ledger => ledger == 6);
        long after = LedgersDirBytes(options);
        TestContext.Out.WriteLine($"{result}; {before} → {after} bytes");

        Assert.That(result.LedgersDeleted, Is.EqualTo(5));
        Assert.That(result.EntryLogsDeleted, Is.GreaterThan(0));
        Assert.That(after, Is.LessThan(before / 3));
        for (long entry = 0; entry < 50; entry++)
        {
            Assert.That(await reopened.ReadEntryAsync(6, entry), Is.EqualTo(Payload(6, entry, 4000)));
        }
        Assert.ThrowsAsync<NoSuchLedgerException>(async () => await reopened.ReadEntryAsync(1, 0));
    }

    [Test]
    public async Task ReadsDuringCompactionNeverFail()
    {
        StorageOptions options = Options(o => o.EntryLogMaxFileBytes = 128 * 1024);
        LedgerStorage storage = Open(options);
        for (long entry = 0; entry < 100; entry++)
        {
            for (long ledger = 1; ledger <= 4; ledger++)
            {
                await storage.AddEntryAsync(ledger, entry, Key, entry - 1, Payload(ledger, entry, 2000), recovery: false);
            }
        }
        await storage.FlushAsync();
        using var stop = new CancellationTokenSource();
        long reads = 0;
        Task reader = Task.Run(async () =>
        {
            var random = new Random(1);
            while (!stop.IsCancellationRequested)
            {
                long entry = random.Next(100);
                Assert.That(await storage.ReadEntryAsync(4, entry), Is.EqualTo(Payload(4, entry, 2000)));
                reads++;
            }
        });
        await storage.CollectGarbageAsync(ledger => ledger == 4);
        await Task.Delay(100);
        stop.Cancel();
        await reader;
        Assert.That(reads, Is.GreaterThan(0));
    }

    private static async Task AssertContent(LedgerStorage storage, Dictionary<(long, long), int> sizes, Func<long, bool> isLive)
    {
        foreach (((long ledger, long entry), int size) in sizes)
        {
            if (isLive(ledger))
            {
                Assert.That(await storage.ReadEntryAsync(ledger, entry), Is.EqualTo(Payload(ledger, entry, size)), $"{ledger}:{entry}");
            }
            else
            {
                Assert.ThrowsAsync<NoSuchLedgerException>(async () => await storage.ReadEntryAsync(ledger, entry));
            }
        }
    }

    private static long LedgersDirBytes(StorageOptions options)
        => Directory.GetFiles(options.LedgersDir).Sum(f => new FileInfo(f).Length);
}
