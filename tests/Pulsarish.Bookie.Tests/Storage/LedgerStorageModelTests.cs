using Pulsarish.Bookie.Storage;
using Pulsarish.Protocol.Errors;
using Pulsarish.TestKit;

namespace Pulsarish.Bookie.Tests.Storage;

/// <summary>Random operations, crashes and restarts checked against a plain in-memory model of what was acknowledged.</summary>
public class LedgerStorageModelTests : StorageTestBase
{
    [Test]
    public async Task RandomOperationsWithCrashesMatchTheModel([Values(1, 2, 3)] int run)
    {
        int seed = TestSeed.Use() + run;
        TestContext.Out.WriteLine($"run {run}: seed {seed}");
        var random = new Random(seed);
        StorageOptions options = Options(o =>
        {
            o.WriteCacheMaxBytes = 256 * 1024;
            o.MaxEntryBytes = 16 * 1024;
            o.EntryLogMaxFileBytes = 128 * 1024;
            o.JournalMaxFileBytes = 128 * 1024;
            o.ReadCacheMaxBytes = 64 * 1024;
            o.CompactionThreshold = 0.6;
        });
        LedgerStorage storage = Open(options);
        var entries = new Dictionary<long, Dictionary<long, byte[]>>();
        var fenced = new HashSet<long>();
        var deleted = new HashSet<long>();
        long nextLedger = 1;

        for (int step = 0; step < 250; step++)
        {
            int op = random.Next(100);
            if (entries.Count == 0 || op < 10)
            {
                entries[nextLedger++] = new Dictionary<long, byte[]>();
                continue;
            }
            long[] ledgers = entries.Keys.ToArray();
            long ledger = ledgers[random.Next(ledgers.Length)];
            Dictionary<long, byte[]> stored = entries[ledger];
            if (op < 60)
            {
                bool recovery = random.Next(4) == 0;
                long entry = stored.Count > 0 && random.Next(5) == 0 ? random.Next(stored.Count) : stored.Count;
                byte[] data = new byte[random.Next(1, 12_000)];
                random.NextBytes(data);
                if (fenced.Contains(ledger) && !recovery)
                {
                    Assert.ThrowsAsync<LedgerFencedException>(async () =>
                        await storage.AddEntryAsync(ledger, entry, Key, entry - 1, data, recovery), $"step {step}");
                }
                else
                {
                    await storage.AddEntryAsync(ledger, entry, Key, entry - 1, data, recovery);
                    stored[entry] = data;
                }
            }
            else if (op < 75 && stored.Count > 0)
            {
                long entry = random.Next(stored.Count);
                Assert.That(await storage.ReadEntryAsync(ledger, entry), Is.EqualTo(stored[entry]), $"step {step}: {ledger}:{entry}");
            }
            else if (op < 80)
            {
                await storage.FenceAsync(ledger, Key);
                fenced.Add(ledger);
            }
            else if (op < 84)
            {
                await storage.DeleteLedgerAsync(ledger);
                entries.Remove(ledger);
                deleted.Add(ledger);
            }
            else if (op < 88)
            {
                await storage.FlushAsync();
            }
            else if (op < 91)
            {
                long dead = ledgers[random.Next(ledgers.Length)];
                await storage.CollectGarbageAsync(id => id != dead);
                if (entries.Remove(dead))
                {
                    deleted.Add(dead);
                }
            }
            else if (op < 96)
            {
                storage.SimulateCrash();
                storage = Open(options);
            }
            else
            {
                await storage.DisposeAsync();
                storage = Open(options);
            }
        }

        foreach ((long ledger, Dictionary<long, byte[]> stored) in entries)
        {
            foreach ((long entry, byte[] data) in stored)
            {
                Assert.That(await storage.ReadEntryAsync(ledger, entry), Is.EqualTo(data), $"{ledger}:{entry}");
            }
            LedgerInfo? info = storage.GetLedgerInfo(ledger);
            if (stored.Count > 0 || fenced.Contains(ledger))
            {
                Assert.That(info, Is.Not.Null, $"ledger {ledger}");
                Assert.That(info!.Value.Fenced, Is.EqualTo(fenced.Contains(ledger)), $"ledger {ledger}");
                Assert.That(info.Value.LastEntryId, Is.EqualTo(stored.Count - 1), $"ledger {ledger}");
            }
        }
        foreach (long ledger in deleted)
        {
            Assert.That(storage.GetLedgerInfo(ledger), Is.Null, $"deleted ledger {ledger}");
            Assert.ThrowsAsync<NoSuchLedgerException>(async () => await storage.ReadEntryAsync(ledger, 0));
        }
        Assert.That(storage.ListLedgers(), Is.SubsetOf(entries.Keys));
    }
}
