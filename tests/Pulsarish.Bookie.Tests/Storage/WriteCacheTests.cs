using Pulsarish.Bookie.Storage;
using Pulsarish.TestKit;

namespace Pulsarish.Bookie.Tests.Storage;

public class WriteCacheTests : StorageTestBase
{
    [Test]
    public async Task AddsWaitForSpaceWhenBothHalvesAreFullAndNothingIsLost()
    {
        const long cacheBytes = 128 * 1024;
        StorageOptions options = Options(o =>
        {
            o.WriteCacheMaxBytes = cacheBytes;
            o.MaxEntryBytes = 16 * 1024;
        });
        LedgerStorage storage = Open(options);
        long maxSeen = 0;
        using var stop = new CancellationTokenSource();
        Task sampler = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                maxSeen = Math.Max(maxSeen, storage.GetStats().WriteCacheBytes);
                await Task.Delay(1);
            }
        });
        // 16 writers × 40 entries × 4 KB = 2.5 MB through a 128 KiB cache.
        var writers = new Task[16];
        for (int w = 0; w < writers.Length; w++)
        {
            long ledger = w + 1;
            writers[w] = Task.Run(async () =>
            {
                for (long entry = 0; entry < 40; entry++)
                {
                    await storage.AddEntryAsync(ledger, entry, Key, entry - 1, Payload(ledger, entry, 4000), recovery: false);
                }
            });
        }
        await Task.WhenAll(writers);
        stop.Cancel();
        await sampler;

        Assert.That(maxSeen, Is.LessThanOrEqualTo(cacheBytes), "the write cache never exceeds its bound");
        Assert.That(storage.WriteCacheFullWaits, Is.GreaterThan(0), "adders waited for space");
        Assert.That(storage.EntryLogReads, Is.Zero);
        for (long ledger = 1; ledger <= 16; ledger++)
        {
            for (long entry = 0; entry < 40; entry++)
            {
                Assert.That(await storage.ReadEntryAsync(ledger, entry), Is.EqualTo(Payload(ledger, entry, 4000)), $"{ledger}:{entry}");
            }
        }
        Assert.That(storage.EntryLogReads, Is.GreaterThan(0), "most entries had to be flushed to entry logs");
    }

    [Test]
    public async Task BackgroundFlushEmptiesTheWriteCacheOnItsTimer()
    {
        LedgerStorage storage = Open(Options(o => o.FlushInterval = TimeSpan.FromMilliseconds(100)));
        for (long entry = 0; entry < 20; entry++)
        {
            await storage.AddEntryAsync(1, entry, Key, entry - 1, Payload(1, entry), recovery: false);
        }
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (storage.GetStats().WriteCacheBytes > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }
        Assert.That(storage.GetStats().WriteCacheBytes, Is.Zero);
        Assert.That(await storage.ReadEntryAsync(1, 7), Is.EqualTo(Payload(1, 7)));
        Assert.That(storage.EntryLogReads, Is.EqualTo(1));
    }

    [Test]
    public async Task ConcurrentAddsReadsFlushesAndCompactionsAgree()
    {
        int seed = TestSeed.Use();
        StorageOptions options = Options(o =>
        {
            o.WriteCacheMaxBytes = 512 * 1024;
            o.MaxEntryBytes = 32 * 1024;
            o.EntryLogMaxFileBytes = 256 * 1024;
            o.FlushInterval = TimeSpan.FromMilliseconds(50);
        });
        LedgerStorage storage = Open(options);
        var tasks = new List<Task>();
        for (int w = 0; w < 8; w++)
        {
            long ledger = w + 1;
            var random = new Random(seed + w);
            tasks.Add(Task.Run(async () =>
            {
                for (long entry = 0; entry < 150; entry++)
                {
                    await storage.AddEntryAsync(ledger, entry, Key, entry - 1, Payload(ledger, entry, 1 + (int)(entry * 37 % 5000)), recovery: false);
                    long back = random.NextInt64(entry + 1);
                    Assert.That(await storage.ReadEntryAsync(ledger, back), Is.EqualTo(Payload(ledger, back, 1 + (int)(back * 37 % 5000))));
                }
            }));
        }
        tasks.Add(Task.Run(async () =>
        {
            for (int i = 0; i < 5; i++)
            {
                await Task.Delay(30);
                await storage.CollectGarbageAsync(ledger => ledger <= 8);
            }
        }));
        await Task.WhenAll(tasks);
        storage.SimulateCrash();

        LedgerStorage reopened = Open(options);
        for (long ledger = 1; ledger <= 8; ledger++)
        {
            for (long entry = 0; entry < 150; entry++)
            {
                Assert.That(await reopened.ReadEntryAsync(ledger, entry), Is.EqualTo(Payload(ledger, entry, 1 + (int)(entry * 37 % 5000))), $"{ledger}:{entry}");
            }
        }
    }
}
