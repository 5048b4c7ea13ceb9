using System.Buffers.Binary;
using System.Runtime.InteropServices;
using Pulsarish.Bookie.Storage;

namespace Pulsarish.Bookie.Tests.Storage;

/// <summary>
/// Direct (O_DIRECT) appends of the journal and the entry logs on real files: the files really are open with
/// O_DIRECT, unaligned appends that rewrite a partial page keep every byte, rolled logs carry no page padding, and
/// everything reads back across flushes and a restart.
/// </summary>
public class DirectWritesTests : StorageTestBase
{
    [Test]
    public async Task JournalAndCurrentEntryLogAreWrittenWithODirect()
    {
        Assume.That(OperatingSystem.IsLinux() && DirectWritesWork(), "the test directory's file system takes O_DIRECT");
        LedgerStorage storage = Open(Options());
        await storage.AddEntryAsync(1, 0, Key, -1, Payload(1, 0), recovery: false);
        await storage.FlushAsync();

        var flags = OpenFlags();
        string journal = flags.Keys.Single(p => p.StartsWith(Path.Combine(Root, "journal"), StringComparison.Ordinal) && p.EndsWith(".journal", StringComparison.Ordinal));
        Assert.That(flags[journal].Any(IsDirect), Is.True, $"journal {journal} open flags {string.Join(",", flags[journal].Select(f => Convert.ToString(f, 8)))}");
        var logs = flags.Keys.Where(p => p.StartsWith(Path.Combine(Root, "ledgers"), StringComparison.Ordinal) && p.EndsWith(".log", StringComparison.Ordinal)).ToList();
        Assert.That(logs.Any(log => flags[log].Any(IsDirect)), Is.True, "the current entry log is appended to with O_DIRECT");
        // Reads go through a buffered handle of the same file.
        Assert.That(logs.Any(log => flags[log].Any(f => !IsDirect(f))), Is.True);
    }

    [TestCase(true)]
    [TestCase(false)]
    public async Task UnalignedAppendsAcrossFlushesRollsAndARestartReadBackByteForByte(bool direct)
    {
        // Small logs roll every few flushes; odd entry sizes put every append at an unaligned offset.
        StorageOptions options = Options(o =>
        {
            o.DirectWrites = direct;
            o.EntryLogMaxFileBytes = 64 * 1024;
        });
        LedgerStorage storage = Open(options);
        var sizes = new Dictionary<long, int>();
        var random = new Random(42);
        long entry = 0;
        for (int flush = 0; flush < 12; flush++)
        {
            for (int i = 0; i < 7; i++, entry++)
            {
                sizes[entry] = random.Next(1, 9000);
                await storage.AddEntryAsync(3, entry, Key, entry - 1, Payload(3, entry, sizes[entry]), recovery: false);
            }
            await storage.FlushAsync();
            long check = random.NextInt64(0, entry);
            Assert.That(await storage.ReadEntryAsync(3, check), Is.EqualTo(Payload(3, check, sizes[check])), $"entry {check} after flush {flush}");
        }

        foreach ((long id, int size) in sizes)
        {
            Assert.That(await storage.ReadEntryAsync(3, id), Is.EqualTo(Payload(3, id, size)), $"entry {id}");
        }
        await storage.DisposeAsync();

        string[] logs = Directory.GetFiles(options.LedgersDir, "*.log").Order(StringComparer.Ordinal).ToArray();
        Assert.That(logs.Length, Is.GreaterThan(2), "the entry log rolled");
        foreach (string log in logs)
        {
            // Records [length u32][crc u32][...length - 0 bytes after crc]: they must tile the file exactly (no padding).
            byte[] bytes = File.ReadAllBytes(log);
            long at = 0;
            while (at < bytes.Length)
            {
                uint length = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan((int)at));
                Assert.That(length, Is.GreaterThan(16u), $"{log} at {at}");
                at += 8 + length;
            }
            Assert.That(at, Is.EqualTo(bytes.Length), $"{log} ends exactly after its last record");
        }

        LedgerStorage reopened = Open(options);
        foreach ((long id, int size) in sizes)
        {
            Assert.That(await reopened.ReadEntryAsync(3, id), Is.EqualTo(Payload(3, id, size)), $"entry {id} after restart");
        }
    }

    /// <summary>Every file this process has open, with the open flags of each of its descriptors (/proc/self/fdinfo).</summary>
    private static Dictionary<string, List<int>> OpenFlags()
    {
        var result = new Dictionary<string, List<int>>(StringComparer.Ordinal);
        foreach (string fd in Directory.GetFiles("/proc/self/fd"))
        {
            string? target;
            try
            {
                target = new FileInfo(fd).LinkTarget;
                string flagsLine = File.ReadLines($"/proc/self/fdinfo/{Path.GetFileName(fd)}").First(l => l.StartsWith("flags:", StringComparison.Ordinal));
                int flags = Convert.ToInt32(flagsLine["flags:".Length..].Trim(), 8);
                if (target is not null)
                {
                    (result.TryGetValue(target, out var list) ? list : result[target] = new List<int>()).Add(flags);
                }
            }
            catch (IOException)
            {
                // The descriptor closed while we looked.
            }
        }
        return result;
    }

    private static bool IsDirect(int flags)
        => (flags & (RuntimeInformation.ProcessArchitecture is Architecture.Arm64 or Architecture.Arm ? 0x10000 : 0x4000)) != 0;
}
