using Pulsarish.Bookie.Storage;

namespace Pulsarish.Bookie.Tests.Storage;

/// <summary>Gives each test its own temporary storage directories and small storage settings; cleans up after.</summary>
public abstract class StorageTestBase
{
    protected static readonly byte[] Key = "master-key-0123456789"u8.ToArray();

    private readonly List<LedgerStorage> _open = new();

    protected string Root { get; private set; } = "";

    [SetUp]
    public void CreateRoot()
    {
        Root = Path.Combine(Path.GetTempPath(), "pulsarish-storage-tests", TestContext.CurrentContext.Test.Name + "-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(Root);
    }

    [TearDown]
    public async Task DeleteRoot()
    {
        foreach (LedgerStorage storage in _open)
        {
            try
            {
                await storage.DisposeAsync();
            }
            catch (ObjectDisposedException)
            {
            }
        }
        _open.Clear();
        try
        {
            Directory.Delete(Root, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    /// <summary>Whether the test directory's file system takes O_DIRECT (ext4 does, tmpfs may not).</summary>
    protected bool DirectWritesWork()
    {
        Directory.CreateDirectory(Root);
        string probe = Path.Combine(Root, "direct-probe");
        File.WriteAllBytes(probe, []);
        try
        {
            if (!FileSync.TryOpenDirect(probe, out var handle))
            {
                return false;
            }
            handle.Dispose();
            return true;
        }
        finally
        {
            File.Delete(probe);
        }
    }

    protected StorageOptions Options(Action<StorageOptions>? configure = null)
    {
        var options = new StorageOptions
        {
            JournalDir = Path.Combine(Root, "journal"),
            LedgersDir = Path.Combine(Root, "ledgers"),
            IndexDir = Path.Combine(Root, "index"),
            WriteCacheMaxBytes = 4 * 1024 * 1024,
            MaxEntryBytes = 1024 * 1024,
            ReadCacheMaxBytes = 2 * 1024 * 1024,
            EntryLogMaxFileBytes = 1024 * 1024,
            FlushInterval = TimeSpan.FromMinutes(10),
        };
        configure?.Invoke(options);
        return options;
    }

    protected LedgerStorage Open(StorageOptions options)
    {
        var storage = new LedgerStorage(options);
        _open.Add(storage);
        return storage;
    }

    /// <summary>Deterministic entry bytes for (ledger, entry) so reads can be checked byte for byte.</summary>
    protected static byte[] Payload(long ledgerId, long entryId, int size = 100)
    {
        var bytes = new byte[size];
        new Random(HashCode.Combine(ledgerId, entryId)).NextBytes(bytes);
        return bytes;
    }
}
