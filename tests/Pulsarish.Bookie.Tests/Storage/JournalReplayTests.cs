using Microsoft.Extensions.Logging.Abstractions;
using Pulsarish.Bookie.Storage;
using Pulsarish.Protocol.Errors;

namespace Pulsarish.Bookie.Tests.Storage;

public class JournalReplayTests : StorageTestBase
{
    private const int EntrySize = 1000;

    private const int LastRecordBytes = Journal.HeaderBytes + 8 + EntrySize;

    /// <summary>End of the data: the master key record plus ten entry records (the file may be preallocated beyond).</summary>
    private static readonly long DataEnd = Journal.HeaderBytes + Key.Length + 10L * LastRecordBytes;

    [TestCase(false, false, TestName = "JournalReplayIgnoresTruncatedTail")]
    [TestCase(true, false, TestName = "JournalReplayIgnoresTornTailInPreallocatedFile")]
    [TestCase(false, true, TestName = "JournalReplayIgnoresTruncatedTailOfDirectWrites")]
    [TestCase(true, true, TestName = "JournalReplayIgnoresTornTailInPreallocatedFileOfDirectWrites")]
    public async Task JournalReplayIgnoresTruncatedTail(bool preallocate, bool direct)
    {
        StorageOptions options = Options(o =>
        {
            o.JournalPreallocateBytes = preallocate ? 1024 * 1024 : 0;
            o.DirectWrites = direct;
        });
        string journal = await WriteTenEntriesThenCrash(options);
        // Direct writes go out in whole pages: the data ends in zeros up to the page end.
        long crashedLength = preallocate ? 1024 * 1024 : direct && DirectWritesWork() ? DirectAppender.RoundUp(DataEnd) : DataEnd;
        Assert.That(new FileInfo(journal).Length, Is.EqualTo(crashedLength));
        using (var stream = new FileStream(journal, FileMode.Open, FileAccess.Write))
        {
            if (preallocate)
            {
                // A torn write: the second half of the last record never reached the disk.
                stream.Position = DataEnd - LastRecordBytes / 2;
                stream.Write(new byte[LastRecordBytes / 2]);
            }
            else
            {
                stream.SetLength(DataEnd - LastRecordBytes / 2);
            }
        }
        Assert.That(ReplayEntryRecords(options), Is.EqualTo(9));
        Assert.That(new FileInfo(journal).Length, Is.EqualTo(DataEnd - LastRecordBytes), "the torn record is truncated away");

        await AssertFirstNineSurviveAndStoreAcceptsWrites(options);
    }

    [TestCase(false, false, TestName = "JournalReplayIgnoresCorruptedTail")]
    [TestCase(true, false, TestName = "JournalReplayIgnoresCorruptedTailInPreallocatedFile")]
    [TestCase(false, true, TestName = "JournalReplayIgnoresCorruptedTailOfDirectWrites")]
    [TestCase(true, true, TestName = "JournalReplayIgnoresCorruptedTailInPreallocatedFileOfDirectWrites")]
    public async Task JournalReplayIgnoresCorruptedTail(bool preallocate, bool direct)
    {
        StorageOptions options = Options(o =>
        {
            o.JournalPreallocateBytes = preallocate ? 1024 * 1024 : 0;
            o.DirectWrites = direct;
        });
        string journal = await WriteTenEntriesThenCrash(options);
        using (var stream = new FileStream(journal, FileMode.Open, FileAccess.ReadWrite))
        {
            stream.Position = DataEnd - 10;
            int b = stream.ReadByte();
            stream.Position = DataEnd - 10;
            stream.WriteByte((byte)(b ^ 0x40));
        }
        Assert.That(ReplayEntryRecords(options), Is.EqualTo(9));
        Assert.That(new FileInfo(journal).Length, Is.EqualTo(DataEnd - LastRecordBytes), "the corrupt record is truncated away");

        await AssertFirstNineSurviveAndStoreAcceptsWrites(options);
    }

    private static int ReplayEntryRecords(StorageOptions options)
    {
        int entries = 0;
        new JournalReplayer(options, NullLogger.Instance).Replay(default,
            (kind, _, _, _) => entries += kind == JournalRecordKind.Entry ? 1 : 0);
        return entries;
    }

    private async Task<string> WriteTenEntriesThenCrash(StorageOptions options)
    {
        LedgerStorage storage = Open(options);
        for (long entry = 0; entry < 10; entry++)
        {
            await storage.AddEntryAsync(5, entry, Key, entry - 1, Payload(5, entry, EntrySize), recovery: false);
        }
        storage.SimulateCrash();
        string[] journals = Directory.GetFiles(options.JournalDir, "*.journal");
        Assert.That(journals, Has.Length.EqualTo(1), "one journal file after a single run");
        return journals[0];
    }

    private async Task AssertFirstNineSurviveAndStoreAcceptsWrites(StorageOptions options)
    {
        LedgerStorage reopened = Open(options);
        for (long entry = 0; entry < 9; entry++)
        {
            Assert.That(await reopened.ReadEntryAsync(5, entry), Is.EqualTo(Payload(5, entry, EntrySize)), $"entry {entry}");
        }
        Assert.ThrowsAsync<NoSuchEntryException>(async () => await reopened.ReadEntryAsync(5, 9));
        Assert.That(reopened.GetLedgerInfo(5)!.Value.LastEntryId, Is.EqualTo(8));

        await reopened.AddEntryAsync(5, 9, Key, 8, Payload(5, 9), recovery: false);
        await reopened.DisposeAsync();
        LedgerStorage again = Open(options);
        Assert.That(await again.ReadEntryAsync(5, 9), Is.EqualTo(Payload(5, 9)));
        Assert.That(await again.ReadEntryAsync(5, 0), Is.EqualTo(Payload(5, 0, EntrySize)));
    }

    [Test]
    public async Task JournalFilesBeforeTheCheckpointAreDeletedAfterFlush()
    {
        StorageOptions options = Options(o => o.JournalMaxFileBytes = 64 * 1024);
        LedgerStorage storage = Open(options);
        for (long entry = 0; entry < 200; entry++)
        {
            await storage.AddEntryAsync(1, entry, Key, entry - 1, Payload(1, entry, 4000), recovery: false);
        }
        long[] before = Journal.ListFileIds(options.JournalDir);
        Assert.That(before, Has.Length.GreaterThan(5), "200 × 4 KB rolled 64 KiB journal files");

        await storage.FlushAsync();

        long[] after = Journal.ListFileIds(options.JournalDir);
        Assert.That(after, Has.Length.EqualTo(1), "only the journal file holding the checkpoint is kept");
        Assert.That(after[0], Is.EqualTo(before[^1]));
        for (long entry = 0; entry < 200; entry += 17)
        {
            Assert.That(await storage.ReadEntryAsync(1, entry), Is.EqualTo(Payload(1, entry, 4000)));
        }
    }

    [Test]
    public async Task GroupCommitCompletesManyWaitersPerFsync()
    {
        LedgerStorage storage = Open(Options());
        const int writers = 64;
        const int addsPerWriter = 40;
        long fsyncsBefore = storage.Journal.FsyncCount;
        var tasks = new Task[writers];
        for (int w = 0; w < writers; w++)
        {
            long ledger = 100 + w;
            tasks[w] = Task.Run(async () =>
            {
                for (long entry = 0; entry < addsPerWriter; entry++)
                {
                    await storage.AddEntryAsync(ledger, entry, Key, entry - 1, Payload(ledger, entry, 1024), recovery: false);
                }
            });
        }
        await Task.WhenAll(tasks);
        long fsyncs = storage.Journal.FsyncCount - fsyncsBefore;
        // 64 master key records + 2560 entries.
        long records = writers + writers * addsPerWriter;
        TestContext.Out.WriteLine($"{records} journal records in {fsyncs} fsyncs");
        Assert.That(fsyncs, Is.LessThan(records / 4), "each fsync completes many waiters");
        for (int w = 0; w < writers; w += 9)
        {
            Assert.That(await storage.ReadEntryAsync(100 + w, addsPerWriter - 1), Is.EqualTo(Payload(100 + w, addsPerWriter - 1, 1024)));
        }
    }
}
