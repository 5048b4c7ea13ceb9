using Pulsarish.Bookie.Storage;

namespace Pulsarish.Bookie.Tests.Storage;

public class LedgerStorageDurabilityTests : StorageTestBase
{
    [Test]
    public async Task AcknowledgedEntriesSurviveRestart()
    {
        StorageOptions options = Options();
        LedgerStorage storage = Open(options);
        for (long ledger = 1; ledger <= 3; ledger++)
        {
            for (long entry = 0; entry < 200; entry++)
            {
                await storage.AddEntryAsync(ledger, entry, Key, entry - 1, Payload(ledger, entry), recovery: false);
            }
        }
        await storage.DisposeAsync();

        LedgerStorage reopened = Open(options);
        for (long ledger = 1; ledger <= 3; ledger++)
        {
            Assert.That(reopened.GetLedgerInfo(ledger), Is.EqualTo(new LedgerInfo(false, 198, 199)));
            for (long entry = 0; entry < 200; entry++)
            {
                Assert.That(await reopened.ReadEntryAsync(ledger, entry), Is.EqualTo(Payload(ledger, entry)), $"{ledger}:{entry}");
            }
        }
        Assert.That(reopened.ListLedgers(), Is.EqualTo(new long[] { 1, 2, 3 }));
    }

    [Test]
    public async Task AcknowledgedEntriesSurviveCrashWithoutFlush()
    {
        StorageOptions options = Options();
        LedgerStorage storage = Open(options);
        // Some entries reach the entry logs and move the checkpoint, the rest only live in the journal.
        for (long entry = 0; entry < 100; entry++)
        {
            await storage.AddEntryAsync(7, entry, Key, entry - 1, Payload(7, entry, 3000), recovery: false);
        }
        await storage.FlushAsync();
        var adds = new List<Task>();
        for (long entry = 100; entry < 300; entry++)
        {
            adds.Add(storage.AddEntryAsync(7, entry, Key, entry - 1, Payload(7, entry, 3000), recovery: false).AsTask());
        }
        await Task.WhenAll(adds);
        storage.SimulateCrash();

        LedgerStorage reopened = Open(options);
        for (long entry = 0; entry < 300; entry++)
        {
            Assert.That(await reopened.ReadEntryAsync(7, entry), Is.EqualTo(Payload(7, entry, 3000)), $"entry {entry}");
        }
        Assert.That(reopened.GetLedgerInfo(7)!.Value.LastEntryId, Is.EqualTo(299));
        // The recovered store keeps working and keeps the master key.
        await reopened.AddEntryAsync(7, 300, Key, 299, Payload(7, 300), recovery: false);
        Assert.ThrowsAsync<Pulsarish.Protocol.Errors.UnauthorizedException>(async () =>
            await reopened.AddEntryAsync(7, 301, "other"u8.ToArray(), 299, Payload(7, 301), recovery: false));
    }

    [Test]
    public async Task JournaledEntriesSurviveReplayUnderASmallerMaximum()
    {
        LedgerStorage storage = Open(Options());
        byte[] big = Payload(8, 0, 900 * 1024);
        await storage.AddEntryAsync(8, 0, Key, -1, big, recovery: false);
        await storage.AddEntryAsync(8, 1, Key, 0, Payload(8, 1), recovery: false);
        storage.SimulateCrash();

        LedgerStorage reopened = Open(Options(o =>
        {
            o.MaxEntryBytes = 64 * 1024;
            o.WriteCacheMaxBytes = 256 * 1024;
        }));
        Assert.That(await reopened.ReadEntryAsync(8, 0), Is.EqualTo(big));
        Assert.That(await reopened.ReadEntryAsync(8, 1), Is.EqualTo(Payload(8, 1)));
        Assert.ThrowsAsync<Pulsarish.Protocol.Errors.TooLargeException>(async () =>
            await reopened.AddEntryAsync(8, 2, Key, 1, big, recovery: false));
    }

    [Test]
    public async Task ReadPathReturnsIdenticalBytesFromEveryTier()
    {
        LedgerStorage storage = Open(Options());
        byte[] payload = Payload(3, 0, 5000);
        await storage.AddEntryAsync(3, 0, Key, -1, payload, recovery: false);
        await storage.AddEntryAsync(3, 1, Key, 0, Payload(3, 1, 5000), recovery: false);

        byte[] fromWriteCache = await storage.ReadEntryAsync(3, 0);
        Assert.That(storage.EntryLogReads, Is.Zero);

        await storage.FlushAsync();
        byte[] fromEntryLog = await storage.ReadEntryAsync(3, 0);
        Assert.That(storage.EntryLogReads, Is.EqualTo(1));
        long hitsBefore = storage.ReadCacheHits;

        byte[] fromReadCache = await storage.ReadEntryAsync(3, 0);
        Assert.That(storage.ReadCacheHits, Is.EqualTo(hitsBefore + 1));
        // Entry 1 was read ahead into the read cache by the miss on entry 0.
        byte[] aheadEntry = await storage.ReadEntryAsync(3, 1);
        Assert.That(storage.ReadCacheHits, Is.EqualTo(hitsBefore + 2));
        Assert.That(storage.EntryLogReads, Is.EqualTo(1));

        Assert.That(fromWriteCache, Is.EqualTo(payload));
        Assert.That(fromEntryLog, Is.EqualTo(payload));
        Assert.That(fromReadCache, Is.EqualTo(payload));
        Assert.That(aheadEntry, Is.EqualTo(Payload(3, 1, 5000)));
    }
}
