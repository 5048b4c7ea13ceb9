using Microsoft.Extensions.Logging.Abstractions;
using Pulsarish.Bookie.Registration;
using Pulsarish.Bookie.Storage;
using Pulsarish.Metadata;
using Pulsarish.Protocol.Errors;
using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Bookie.Tests.Storage;

/// <summary>
/// Disk is given back after ledgers are deleted, measured as the bytes of the journal and entry-log files on real
/// directories (the first-hour report: a trimmed topic's data stayed on disk because nothing collected it).
/// </summary>
public class DiskReclaimTests : StorageTestBase
{
    private const int EntryBytes = 8 * 1024;

    [Test]
    public async Task LedgersDeletedInMetadataGiveBackTheirDiskWithinTwoGcIntervals()
    {
        // The standalone's settings scaled down: GC (and minor compaction) every 500 ms instead of 60 s.
        TimeSpan gcInterval = TimeSpan.FromMilliseconds(500);
        StorageOptions options = Options(o =>
        {
            o.EntryLogMaxFileBytes = 8L * 1024 * 1024;
            o.JournalMaxFileBytes = 4L * 1024 * 1024;
            o.WriteCacheMaxBytes = 16L * 1024 * 1024;
            o.FlushInterval = TimeSpan.FromSeconds(1);
            o.MinorCompactionInterval = gcInterval;
        });
        LedgerStorage storage = Open(options);
        await using EmbeddedMetadataStore store = EmbeddedMetadataStore.CreateInMemory();
        var ledgers = new LedgerMetadataStore(store);
        var topicLedgers = new long[8];
        for (int i = 0; i < topicLedgers.Length; i++)
        {
            topicLedgers[i] = (await ledgers.CreateAsync(NewLedger())).Metadata.LedgerId;
        }
        long cursorLedger = (await ledgers.CreateAsync(NewLedger())).Metadata.LedgerId;

        // 64 MiB: 8 ledgers × 1024 entries × 8 KiB, interleaved, with a small live "cursor" ledger every 32 rounds, so
        // that no entry log is entirely dead once the topic ledgers go.
        long peak = 0;
        long cursorEntries = 0;
        const int rounds = 1024;
        const int roundsPerWait = 16;
        for (int round = 0; round < rounds; round += roundsPerWait)
        {
            var adds = new List<Task>(roundsPerWait * (topicLedgers.Length + 1));
            for (int r = round; r < round + roundsPerWait; r++)
            {
                foreach (long ledger in topicLedgers)
                {
                    adds.Add(storage.AddEntryAsync(ledger, r, Key, r - 1, Payload(ledger, r, EntryBytes), recovery: false).AsTask());
                }
                if (r % 32 == 0)
                {
                    long entry = cursorEntries++;
                    adds.Add(storage.AddEntryAsync(cursorLedger, entry, Key, entry - 1, Payload(cursorLedger, entry, 256), recovery: false).AsTask());
                }
            }
            await Task.WhenAll(adds);
            peak = Math.Max(peak, DirBytes(options));
        }
        await storage.FlushAsync();
        peak = Math.Max(peak, DirBytes(options));
        TestContext.Out.WriteLine($"peak {peak} bytes (journal + entry logs), index {IndexBytes(options)} bytes");
        Assert.That(peak, Is.GreaterThan(64L * 1024 * 1024), "every byte written reached the disk");

        // The topic is trimmed: its ledgers are deleted in metadata; the bookie's periodic GC finds out on its own.
        foreach (long ledger in topicLedgers)
        {
            await ledgers.DeleteAsync(ledger, null);
        }
        var collector = new BookieGarbageCollector(storage, ledgers, NullLogger.Instance);
        using var stop = new CancellationTokenSource();
        Task gcLoop = collector.RunAsync(gcInterval, stop.Token);
        DateTime deadline = DateTime.UtcNow + TimeSpan.FromSeconds(60);
        long now = DirBytes(options);
        while (now >= peak / 5 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
            now = DirBytes(options);
        }
        TimeSpan waited = TimeSpan.FromSeconds(60) - (deadline - DateTime.UtcNow);
        await stop.CancelAsync();
        await gcLoop;
        TestContext.Out.WriteLine(
            $"after {collector.CompletedPasses} GC passes in {waited.TotalSeconds:F1} s: {now} bytes ({100.0 * now / peak:F1} % of peak), index {IndexBytes(options)} bytes");

        Assert.That(now, Is.LessThan(peak / 5), "journal + entry logs below 20 % of the peak");
        Assert.That(storage.ListLedgers(), Is.EqualTo(new[] { cursorLedger }));
        for (long entry = 0; entry < cursorEntries; entry++)
        {
            Assert.That(await storage.ReadEntryAsync(cursorLedger, entry), Is.EqualTo(Payload(cursorLedger, entry, 256)));
        }
        Assert.ThrowsAsync<NoSuchLedgerException>(async () => await storage.ReadEntryAsync(topicLedgers[0], 0));
    }

    [Test]
    public async Task FullyDeadEntryLogsIncludingTheCurrentOneGoOnAPeriodicPassWithNoCompactionDue()
    {
        StorageOptions options = Options(o => o.EntryLogMaxFileBytes = 4L * 1024 * 1024);
        LedgerStorage storage = Open(options);
        await WriteAsync(storage, ledgers: [1, 2, 3, 4], entriesPerLedger: 512);
        await storage.FlushAsync();
        long before = LedgersDirBytes(options);
        int logsBefore = Directory.GetFiles(options.LedgersDir, "*.log").Length;

        // Compaction intervals are 1 h and 1 day from start-up: this pass may only delete dead logs.
        GcResult result = await storage.CollectGarbageAsync(_ => false, GcTrigger.Periodic);
        TestContext.Out.WriteLine($"{result}; {before} → {LedgersDirBytes(options)} bytes, {logsBefore} logs");

        Assert.That(result.LedgersDeleted, Is.EqualTo(4));
        Assert.That(result.EntryLogsCompacted, Is.Zero);
        Assert.That(result.EntryLogsDeleted, Is.EqualTo(logsBefore), "the current log was rolled and deleted too");
        Assert.That(LedgersDirBytes(options), Is.Zero);

        // Writing goes on in the fresh current log.
        await storage.AddEntryAsync(5, 0, Key, -1, Payload(5, 0), recovery: false);
        await storage.FlushAsync();
        Assert.That(await storage.ReadEntryAsync(5, 0), Is.EqualTo(Payload(5, 0)));
    }

    [Test]
    public async Task PartlyLiveEntryLogsWaitForTheirCompactionIntervalUnlessForced()
    {
        StorageOptions options = Options(o => o.EntryLogMaxFileBytes = 1024 * 1024);
        LedgerStorage storage = Open(options);
        // Ledger 1 holds a tenth of every log: a flush per round, each sorted by ledger, so every log has some of it.
        await WriteAsync(storage, ledgers: [1, 2, 3, 4, 5, 6, 7, 8, 9, 10], entriesPerLedger: 64, flushEachRound: true);
        await storage.FlushAsync();
        long before = LedgersDirBytes(options);

        GcResult periodic = await storage.CollectGarbageAsync(ledger => ledger == 1, GcTrigger.Periodic);
        long afterPeriodic = LedgersDirBytes(options);
        GcResult forced = await storage.CollectGarbageAsync(ledger => ledger == 1);
        long afterForced = LedgersDirBytes(options);
        TestContext.Out.WriteLine($"{periodic} then {forced}; {before} → {afterPeriodic} → {afterForced} bytes");

        Assert.That(periodic.LedgersDeleted, Is.EqualTo(9));
        Assert.That(periodic.EntryLogsCompacted, Is.Zero, "10 % live logs wait for minor compaction");
        // A roll may leave a sliver of a log without any of ledger 1: that one goes at once.
        Assert.That(afterPeriodic, Is.GreaterThan(before * 9 / 10));
        Assert.That(forced.EntryLogsCompacted, Is.GreaterThan(0));
        Assert.That(afterForced, Is.LessThan(before / 5));
        for (long entry = 0; entry < 64; entry++)
        {
            Assert.That(await storage.ReadEntryAsync(1, entry), Is.EqualTo(Payload(1, entry, EntryBytes)));
        }
    }

    private static async Task WriteAsync(LedgerStorage storage, long[] ledgers, int entriesPerLedger, bool flushEachRound = false)
    {
        for (long entry = 0; entry < entriesPerLedger; entry++)
        {
            var adds = new Task[ledgers.Length];
            for (int i = 0; i < ledgers.Length; i++)
            {
                adds[i] = storage.AddEntryAsync(ledgers[i], entry, Key, entry - 1, Payload(ledgers[i], entry, EntryBytes), recovery: false).AsTask();
            }
            await Task.WhenAll(adds);
            if (flushEachRound)
            {
                await storage.FlushAsync();
            }
        }
    }

    private static LedgerMetadata NewLedger() => new()
    {
        EnsembleSize = 1,
        WriteQuorum = 1,
        AckQuorum = 1,
        State = Protocol.Metadata.LedgerState.Open,
        LastEntryId = -1,
        Fragments = { new Fragment { FirstEntryId = 0, Bookies = { "b1" } } },
        CtimeMillis = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
    };

    /// <summary>Bytes of every file under the journal and ledgers directories.</summary>
    private static long DirBytes(StorageOptions options) => FileBytes(options.JournalDir) + FileBytes(options.LedgersDir);

    private static long LedgersDirBytes(StorageOptions options) => FileBytes(options.LedgersDir);

    private static long IndexBytes(StorageOptions options) => FileBytes(options.IndexDir);

    private static long FileBytes(string dir)
    {
        long bytes = 0;
        foreach (string file in Directory.EnumerateFiles(dir, "*", SearchOption.AllDirectories))
        {
            try
            {
                bytes += new FileInfo(file).Length;
            }
            catch (FileNotFoundException)
            {
                // Deleted while listed.
            }
        }
        return bytes;
    }
}
