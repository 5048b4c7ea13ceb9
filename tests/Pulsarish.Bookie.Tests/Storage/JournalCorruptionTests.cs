using System.Buffers.Binary;
using Microsoft.Extensions.Logging.Abstractions;
using Pulsarish.Bookie.Storage;
using Pulsarish.Protocol.Checksums;
using Pulsarish.Protocol.Errors;
using Pulsarish.TestKit;
using StatusCode = Pulsarish.Protocol.Bookie.StatusCode;

namespace Pulsarish.Bookie.Tests.Storage;

/// <summary>
/// DESIGN §9: only the last journal file's tail may be cut at a bad record (a torn write); a bad record in an earlier,
/// fully synced file, a record of unknown kind in any file, or a bad record of the last file followed by a later
/// group's records, stops the start naming file and offset, unless the operator accepts the loss (the bookie then
/// serves read-only). Real journal files written by the real storage (rolled small) with real fsync, then damaged.
/// </summary>
public class JournalCorruptionTests : StorageTestBase
{
    private const long LedgerId = 7;
    private const int Entries = 60;
    private const int EntryBytes = 3000;

    /// <summary>Where in a record <c>[length u32][crc32c u32][ledgerId i64][entryId i64][kind u8][payload]</c> a byte is flipped.</summary>
    public enum Field
    {
        LengthHighByte,
        LengthLowByte,
        Crc,
        LedgerId,
        EntryId,
        Kind,
        Payload,
    }

    /// <summary>Which record of a file before the last one is damaged.</summary>
    public enum EarlierRecord
    {
        /// <summary>The final record of the first file: what the old replay took for a torn tail.</summary>
        FirstFileFinalRecord,
        MiddleFileMiddleRecord,
    }

    /// <summary>Which record gets an unknown kind with a valid checksum.</summary>
    public enum AnyRecord
    {
        FirstFileFirstRecord,
        FirstFileFinalRecord,
        LastFileFirstRecord,
        LastFileFinalRecord,
    }

    /// <summary>One record found in the journal files: its file, offset and size.</summary>
    private sealed record JournalRecord(int FileIndex, bool InLastFile, string Path, long Offset, int Bytes,
        JournalRecordKind Kind, long EntryId);

    [Test]
    public async Task DamageInAnEarlierJournalFileStopsTheStartNamingFileAndOffset(
        [Values] Field field, [Values] EarlierRecord which)
    {
        StorageOptions options = RollingOptions();
        List<JournalRecord> records = await WriteThenCrash(options);
        JournalRecord victim = which == EarlierRecord.FirstFileFinalRecord
            ? records.Last(r => r.FileIndex == 0)
            : Middle(records.Where(r => r.FileIndex == 1).ToList());
        Assert.That(victim.InLastFile, Is.False);
        Flip(victim.Path, victim.Offset + ByteOf(field, victim.Bytes));
        byte[] damaged = File.ReadAllBytes(victim.Path);

        var e = Assert.Throws<CorruptDataException>(() => Open(options));

        Assert.That(e!.Message, Does.Contain($"journal file {victim.Path} is corrupt at offset {victim.Offset}:"));
        Assert.That(File.ReadAllBytes(victim.Path), Is.EqualTo(damaged), "refusing leaves the damaged file as it was");
    }

    [Test]
    public async Task DamagedFinalRecordOfTheLastJournalFileIsCutAsATornTail([Values] Field field)
    {
        StorageOptions options = RollingOptions();
        List<JournalRecord> records = await WriteThenCrash(options);
        JournalRecord victim = records[^1];
        Assert.That(victim.InLastFile && victim.EntryId == Entries - 1, Is.True);
        Flip(victim.Path, victim.Offset + ByteOf(field, victim.Bytes));

        (JournalReplayer replayer, long replayed, string copy) = ReplayCopy(options);
        Assert.That(replayed, Is.EqualTo(records.Count - 1));
        Assert.That(replayer.AcceptedCorruption, Is.Empty, "a torn tail is no damage to accept");
        Assert.That(new FileInfo(Path.Combine(copy, Path.GetFileName(victim.Path))).Length, Is.EqualTo(victim.Offset),
            "the torn record is truncated away");

        LedgerStorage reopened = Open(options);

        Assert.That(reopened.AcceptedJournalCorruption, Is.Empty);
        for (long entry = 0; entry < Entries - 1; entry++)
        {
            Assert.That(await reopened.ReadEntryAsync(LedgerId, entry), Is.EqualTo(Payload(LedgerId, entry, EntryBytes)), $"entry {entry}");
        }
        Assert.ThrowsAsync<NoSuchEntryException>(async () => await reopened.ReadEntryAsync(LedgerId, Entries - 1));
        await reopened.AddEntryAsync(LedgerId, Entries - 1, Key, Entries - 2, Payload(LedgerId, Entries - 1), recovery: false);
    }

    [Test]
    public async Task RecordOfUnknownKindWithAValidChecksumStopsTheStartInAnyFile([Values] AnyRecord which)
    {
        StorageOptions options = RollingOptions();
        List<JournalRecord> records = await WriteThenCrash(options);
        JournalRecord victim = which switch
        {
            AnyRecord.FirstFileFirstRecord => records[0],
            AnyRecord.FirstFileFinalRecord => records.Last(r => r.FileIndex == 0),
            AnyRecord.LastFileFirstRecord => records.First(r => r.InLastFile),
            _ => records[^1],
        };
        RewriteKind(victim, 0x7F);

        var e = Assert.Throws<CorruptDataException>(() => Open(options));

        Assert.That(e!.Message, Does.Contain($"journal file {victim.Path} is corrupt at offset {victim.Offset}:")
            .And.Contain("unknown kind 127"));
    }

    [Test]
    public async Task ZeroedRecordHeaderInAnEarlierJournalFileIsDamageNotTheEndOfTheData()
    {
        StorageOptions options = RollingOptions();
        List<JournalRecord> records = await WriteThenCrash(options);
        JournalRecord victim = Middle(records.Where(r => r.FileIndex == 0).ToList());
        using (var stream = new FileStream(victim.Path, FileMode.Open, FileAccess.Write))
        {
            stream.Position = victim.Offset;
            stream.Write(new byte[8]);
        }

        var e = Assert.Throws<CorruptDataException>(() => Open(options));

        Assert.That(e!.Message, Does.Contain($"journal file {victim.Path} is corrupt at offset {victim.Offset}:"));
    }

    [TestCase(5, TestName = "ZerosShorterThanAHeaderAfterAnEarlierJournalFilesDataAreCutLikePagePadding")]
    [TestCase(4093, TestName = "ZerosAfterAnEarlierJournalFilesDataAreCutLikePagePadding")]
    public async Task ZerosAfterAnEarlierJournalFilesDataAreCutLikePagePadding(int zeros)
    {
        // A crash before a roll's cut of the page padding (or preallocation) reached the disk leaves zeros behind.
        StorageOptions options = RollingOptions();
        List<JournalRecord> records = await WriteThenCrash(options);
        JournalRecord final = records.Last(r => r.FileIndex == 0);
        long dataEnd = final.Offset + final.Bytes;
        Assert.That(new FileInfo(final.Path).Length, Is.EqualTo(dataEnd), "a roll cuts the file to its data");
        using (var stream = new FileStream(final.Path, FileMode.Append, FileAccess.Write))
        {
            stream.Write(new byte[zeros]);
        }

        LedgerStorage reopened = Open(options);

        Assert.That(reopened.AcceptedJournalCorruption, Is.Empty);
        for (long entry = 0; entry < Entries; entry += 7)
        {
            Assert.That(await reopened.ReadEntryAsync(LedgerId, entry), Is.EqualTo(Payload(LedgerId, entry, EntryBytes)), $"entry {entry}");
        }
    }

    [Test]
    public async Task BadRecordOfTheLastJournalFileFollowedByALaterGroupIsDamageNotATornTail()
    {
        StorageOptions options = SmallGroupOptions();
        List<JournalRecord> records = await WriteThenCrash(options, entries: 200, entryBytes: 2000);
        long reach = Journal.MaxGroupWriteBytes(options);
        JournalRecord victim = records.First(r => r.InLastFile);
        Assert.That(records.Any(r => r.InLastFile && r.Offset >= victim.Offset + reach), Is.True,
            "the last file holds records beyond one group write after the victim");
        Flip(victim.Path, victim.Offset + ByteOf(Field.Payload, victim.Bytes));

        var e = Assert.Throws<CorruptDataException>(() => Open(options));

        Assert.That(e!.Message, Does.Contain($"journal file {victim.Path} is corrupt at offset {victim.Offset}:")
            .And.Contain("not a torn tail"));
    }

    [Test]
    public async Task AcceptedDamageInAnEarlierJournalFileIsCutThereAndEverythingElseIsReplayed()
    {
        StorageOptions options = RollingOptions(o => o.AcceptJournalCorruption = true);
        List<JournalRecord> records = await WriteThenCrash(options);
        List<JournalRecord> firstFile = records.Where(r => r.FileIndex == 0).ToList();
        JournalRecord victim = Middle(firstFile);
        Flip(victim.Path, victim.Offset + ByteOf(Field.Payload, victim.Bytes));

        (_, long replayed, string copy) = ReplayCopy(options);
        Assert.That(replayed, Is.EqualTo(records.Count - (firstFile.Count - firstFile.IndexOf(victim))),
            "every record but those from the damage to the end of its file");
        Assert.That(new FileInfo(Path.Combine(copy, Path.GetFileName(victim.Path))).Length, Is.EqualTo(victim.Offset),
            "the damaged file is cut at the damage");

        LedgerStorage reopened = Open(options);

        Assert.That(reopened.AcceptedJournalCorruption, Has.Count.EqualTo(1));
        JournalCorruption accepted = reopened.AcceptedJournalCorruption[0];
        Assert.That((accepted.FilePath, accepted.Offset), Is.EqualTo((victim.Path, victim.Offset)));
        long lostFrom = victim.EntryId;
        long lostTo = firstFile[^1].EntryId;
        for (long entry = 0; entry < Entries; entry++)
        {
            if (entry >= lostFrom && entry <= lostTo)
            {
                Assert.ThrowsAsync<NoSuchEntryException>(async () => await reopened.ReadEntryAsync(LedgerId, entry), $"entry {entry} was lost");
            }
            else
            {
                // Before the damage, and in the later files: replay goes on with the next file.
                Assert.That(await reopened.ReadEntryAsync(LedgerId, entry), Is.EqualTo(Payload(LedgerId, entry, EntryBytes)), $"entry {entry}");
            }
        }
    }

    [Test]
    public async Task BookieRefusesToStartOverDamageInAnEarlierJournalFile()
    {
        StorageOptions options = RollingOptions();
        List<JournalRecord> records = await WriteThenCrash(options);
        JournalRecord victim = records.Last(r => r.FileIndex == 0);
        Flip(victim.Path, victim.Offset + ByteOf(Field.Crc, victim.Bytes));

        var e = Assert.ThrowsAsync<CorruptDataException>(async () => await BookieHost.StartAsync(BookieOptionsFor(options, accept: false)));
        TestContext.Out.WriteLine(e!.Message);

        Assert.That(e!.Message, Does.Contain($"journal file {victim.Path} is corrupt at offset {victim.Offset}:")
            .And.Contain("AcceptJournalCorruption"));
    }

    [Test]
    public async Task BookieAcceptingJournalCorruptionStartsReadOnlyWithTheRecordsBeforeTheDamage()
    {
        StorageOptions options = RollingOptions();
        List<JournalRecord> records = await WriteThenCrash(options);
        JournalRecord victim = records.Last(r => r.FileIndex == 0);
        Flip(victim.Path, victim.Offset + ByteOf(Field.Crc, victim.Bytes));

        await using var server = await BookieHost.StartAsync(BookieOptionsFor(options, accept: true));

        Assert.That(server.Storage.AcceptedJournalCorruption.Select(c => (c.FilePath, c.Offset)),
            Is.EqualTo(new[] { (victim.Path, victim.Offset) }));
        Assert.That(server.State.ReadOnly, Is.True, "the disks are not full: read-only because of the accepted loss");
        Assert.That(await server.Storage.ReadEntryAsync(LedgerId, 0), Is.EqualTo(Payload(LedgerId, 0, EntryBytes)));
        Assert.ThrowsAsync<NoSuchEntryException>(async () => await server.Storage.ReadEntryAsync(LedgerId, victim.EntryId));
        using var channel = BookieRequests.Channel(server.Address);
        var client = new Protocol.Bookie.Bookie.BookieClient(channel);
        using var call = client.Add(deadline: DateTime.UtcNow.AddSeconds(30));
        await call.RequestStream.WriteAsync(BookieRequests.Add(1, 99, 0, [1], Key));
        await call.RequestStream.CompleteAsync();
        Assert.That(await call.ResponseStream.MoveNext(CancellationToken.None), Is.True);
        Assert.That(call.ResponseStream.Current.Status, Is.EqualTo(StatusCode.ReadOnly));
        var info = await client.GetInfoAsync(new Protocol.Bookie.BookieInfoRequest());
        Assert.That(info.ReadOnly, Is.True);
    }

    /// <summary>
    /// Random single-byte damage anywhere in the journal: refused with the file and offset, unless it is in the last
    /// file within one group write of its end (a possible torn tail), where it is cut off. Either way every record
    /// before it is replayed. Prints its seed; PULSARISH_TEST_SEED replays one.
    /// </summary>
    [Test]
    public async Task RandomByteFlipsAreRefusedUnlessTheyCanBeATornTail()
    {
        int seed = int.TryParse(Environment.GetEnvironmentVariable("PULSARISH_TEST_SEED"), out int s) ? s : Random.Shared.Next();
        TestContext.Out.WriteLine($"seed {seed}");
        var random = new Random(seed);
        StorageOptions options = SmallGroupOptions();
        List<JournalRecord> records = await WriteThenCrash(options, entries: 200, entryBytes: 2000);
        long reach = Journal.MaxGroupWriteBytes(options);
        int refused = 0;
        for (int trial = 0; trial < 40; trial++)
        {
            int index = random.Next(records.Count);
            JournalRecord victim = records[index];
            int at = random.Next(victim.Bytes);
            byte mask = (byte)random.Next(1, 256);
            string context = $"seed {seed} trial {trial}: record {index} at {victim.Path}:{victim.Offset}, byte {at} ^ 0x{mask:x2}";
            string dir = Path.Combine(Root, $"trial-{trial}");
            CopyDirectory(options.JournalDir, dir);
            string path = Path.Combine(dir, Path.GetFileName(victim.Path));
            Flip(path, victim.Offset + at, mask);
            bool damage = !victim.InLastFile || records.Any(r => r.InLastFile && r.Offset >= victim.Offset + reach);
            var replayer = new JournalReplayer(SmallGroupOptions(o => o.JournalDir = dir), NullLogger.Instance);
            long replayed = 0;

            if (damage)
            {
                var e = Assert.Throws<CorruptDataException>(() => replayer.Replay(default, (_, _, _, _) => replayed++), context);
                Assert.That(e!.Message, Does.Contain($"journal file {path} is corrupt at offset {victim.Offset}:"), context);
                refused++;
            }
            else
            {
                replayer.Replay(default, (_, _, _, _) => replayed++);
                Assert.That(new FileInfo(path).Length, Is.EqualTo(victim.Offset), context + ": the torn tail is cut");
            }

            Assert.That(replayed, Is.EqualTo(index), context + ": every record before the damage is replayed");
            Directory.Delete(dir, recursive: true);
        }
        TestContext.Out.WriteLine($"{refused} flips refused as damage, {40 - refused} cut as torn tails");
    }

    /// <summary>64 KiB journal files: <see cref="Entries"/> entries of <see cref="EntryBytes"/> fill three.</summary>
    private StorageOptions RollingOptions(Action<StorageOptions>? configure = null) => Options(o =>
    {
        o.JournalMaxFileBytes = 64 * 1024;
        configure?.Invoke(o);
    });

    /// <summary>Groups and entries as small as allowed, so the last file holds records beyond one group write.</summary>
    private StorageOptions SmallGroupOptions(Action<StorageOptions>? configure = null) => Options(o =>
    {
        o.MaxGroupBytes = 4096;
        o.MaxEntryBytes = 8 * 1024;
        o.JournalMaxFileBytes = 160 * 1024;
        configure?.Invoke(o);
    });

    /// <summary>
    /// Replays a copy of the journal with <paramref name="options"/>' other settings: storage deletes the journal files
    /// once it has flushed what it replayed, so what replay did to the files is checked on the copy.
    /// </summary>
    private (JournalReplayer Replayer, long Records, string Dir) ReplayCopy(StorageOptions options)
    {
        string dir = Path.Combine(Root, "journal-copy");
        CopyDirectory(options.JournalDir, dir);
        StorageOptions copy = Options(o =>
        {
            o.JournalDir = dir;
            o.MaxGroupBytes = options.MaxGroupBytes;
            o.MaxEntryBytes = options.MaxEntryBytes;
            o.AcceptJournalCorruption = options.AcceptJournalCorruption;
        });
        var replayer = new JournalReplayer(copy, NullLogger.Instance);
        return (replayer, replayer.Replay(default, (_, _, _, _) => { }), dir);
    }

    private BookieOptions BookieOptionsFor(StorageOptions options, bool accept) => new()
    {
        Port = 0,
        JournalDir = options.JournalDir,
        LedgersDir = options.LedgersDir,
        IndexDir = options.IndexDir,
        AcceptJournalCorruption = accept,
        // Never read-only for a full disk: read-only here means the accepted loss.
        DiskUsageThreshold = 1,
        DiskUsageLwmThreshold = 1,
    };

    /// <summary>
    /// Writes a master key record and the entries through the storage, one journal group each, then crashes it before
    /// any flush: the journal files hold every record and replay starts at the first file.
    /// </summary>
    private async Task<List<JournalRecord>> WriteThenCrash(StorageOptions options, int entries = Entries, int entryBytes = EntryBytes)
    {
        LedgerStorage storage = Open(options);
        for (long entry = 0; entry < entries; entry++)
        {
            await storage.AddEntryAsync(LedgerId, entry, Key, entry - 1, Payload(LedgerId, entry, entryBytes), recovery: false);
        }
        storage.SimulateCrash();
        List<JournalRecord> records = ReadRecords(options.JournalDir);
        Assert.That(records.Select(r => r.FileIndex).Distinct().Count(), Is.GreaterThanOrEqualTo(3), "the journal rolled");
        Assert.That(records.Count(r => r.Kind == JournalRecordKind.Entry), Is.EqualTo(entries));
        return records;
    }

    /// <summary>Every record of the journal files, in order, read with the documented layout up to each file's zeros.</summary>
    private static List<JournalRecord> ReadRecords(string journalDir)
    {
        var records = new List<JournalRecord>();
        long[] ids = Journal.ListFileIds(journalDir);
        for (int i = 0; i < ids.Length; i++)
        {
            string path = Journal.PathOf(journalDir, ids[i]);
            byte[] bytes = File.ReadAllBytes(path);
            int at = 0;
            while (at + Journal.HeaderBytes <= bytes.Length && BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(at)) is var length and > 0)
            {
                ReadOnlySpan<byte> record = bytes.AsSpan(at, 8 + (int)length);
                Assert.That(Crc32C.Compute(record[8..]), Is.EqualTo(BinaryPrimitives.ReadUInt32BigEndian(record[4..])), $"{path}:{at}");
                records.Add(new JournalRecord(i, i == ids.Length - 1, path, at, record.Length, (JournalRecordKind)record[24],
                    BinaryPrimitives.ReadInt64BigEndian(record[16..])));
                at += record.Length;
            }
        }
        return records;
    }

    private static JournalRecord Middle(List<JournalRecord> records) => records[records.Count / 2];

    private static int ByteOf(Field field, int recordBytes) => field switch
    {
        Field.LengthHighByte => 0,
        Field.LengthLowByte => 3,
        Field.Crc => 6,
        Field.LedgerId => 15,
        Field.EntryId => 23,
        Field.Kind => 24,
        _ => recordBytes - 1,
    };

    private static void Flip(string path, long offset, byte mask = 0x5A)
    {
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite);
        stream.Position = offset;
        int b = stream.ReadByte();
        stream.Position = offset;
        stream.WriteByte((byte)(b ^ mask));
    }

    /// <summary>Gives the record another kind byte and a checksum that matches it again.</summary>
    private static void RewriteKind(JournalRecord victim, byte kind)
    {
        using var stream = new FileStream(victim.Path, FileMode.Open, FileAccess.ReadWrite);
        byte[] record = new byte[victim.Bytes];
        stream.Position = victim.Offset;
        stream.ReadExactly(record);
        record[24] = kind;
        BinaryPrimitives.WriteUInt32BigEndian(record.AsSpan(4), Crc32C.Compute(record.AsSpan(8)));
        stream.Position = victim.Offset;
        stream.Write(record);
    }

    private static void CopyDirectory(string from, string to)
    {
        Directory.CreateDirectory(to);
        foreach (string file in Directory.GetFiles(from))
        {
            File.Copy(file, Path.Combine(to, Path.GetFileName(file)));
        }
    }
}
