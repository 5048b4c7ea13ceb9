using Microsoft.Extensions.Logging;
using Pulsarish.Bookie.Storage;
using Pulsarish.Metadata;
using Pulsarish.Protocol.Metadata;
using Pulsarish.TestKit;

namespace Pulsarish.Bookie.Tests.Storage;

/// <summary>The standalone's bookies collect garbage on their own (before, nothing ran GC there at all).</summary>
public class StandaloneGarbageCollectionTests
{
    [Test]
    public async Task StandaloneBookiesGiveBackTheDiskOfLedgersDeletedInMetadataOnTheirOwnTimer()
    {
        using var dir = new TempDir("standalone-gc");
        await using var cluster = await StandaloneCluster.StartAsync(new StandaloneOptions
        {
            DataDir = dir.Path,
            Port = 0,
            GcInterval = TimeSpan.FromMilliseconds(300),
            ConfigureLogging = logging => logging.SetMinimumLevel(LogLevel.Warning),
        });
        var ledgers = new LedgerMetadataStore(cluster.MetadataStore);
        long ledgerId = (await ledgers.CreateAsync(new LedgerMetadata
        {
            EnsembleSize = 1,
            WriteQuorum = 1,
            AckQuorum = 1,
            State = Protocol.Metadata.LedgerState.Open,
            LastEntryId = -1,
            Fragments = { new Fragment { FirstEntryId = 0, Bookies = { "standalone-bookie-0" } } },
        })).Metadata.LedgerId;
        ILedgerStorage storage = cluster.Bookies[0].Storage;
        byte[] key = "standalone-gc-key"u8.ToArray();
        var payload = new byte[16 * 1024];
        new Random(1).NextBytes(payload);
        var adds = new Task[256];
        for (int entry = 0; entry < adds.Length; entry++)
        {
            adds[entry] = storage.AddEntryAsync(ledgerId, entry, key, entry - 1, payload, recovery: false).AsTask();
        }
        await Task.WhenAll(adds);
        await storage.FlushAsync();
        string ledgersDir = Path.Combine(dir.Path, "bookie-0", "ledgers");
        long before = FileBytes(ledgersDir);
        Assert.That(before, Is.GreaterThan(4L * 1024 * 1024));

        await ledgers.DeleteAsync(ledgerId, null);

        DateTime deadline = DateTime.UtcNow + TimeSpan.FromSeconds(30);
        while ((storage.ListLedgers().Contains(ledgerId) || FileBytes(ledgersDir) >= before / 5) && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
        }
        TestContext.Out.WriteLine($"{before} → {FileBytes(ledgersDir)} bytes after {cluster.GarbageCollectors[0].CompletedPasses} passes");
        Assert.That(storage.ListLedgers(), Does.Not.Contain(ledgerId));
        Assert.That(FileBytes(ledgersDir), Is.LessThan(before / 5));
        Assert.That(cluster.GarbageCollectors[0].CompletedPasses, Is.GreaterThan(0));
    }

    private static long FileBytes(string dir)
    {
        long bytes = 0;
        foreach (string file in Directory.EnumerateFiles(dir))
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
