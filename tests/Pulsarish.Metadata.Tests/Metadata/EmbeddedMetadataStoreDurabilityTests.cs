using System.Text;
using Pulsarish.Protocol.Errors;
using Pulsarish.Metadata;

namespace Pulsarish.Metadata.Tests.Metadata;

/// <summary>The embedded store's durability: operation log, torn tails, snapshots, reopen (real files, real fsync).</summary>
[TestFixture]
public sealed class EmbeddedMetadataStoreDurabilityTests
{
    private string _directory = "";

    [SetUp]
    public void CreateDirectory() =>
        _directory = Path.Combine(Path.GetTempPath(), "pulsarish-embedded-" + Guid.NewGuid().ToString("N"));

    [TearDown]
    public void DeleteDirectory()
    {
        if (Directory.Exists(_directory)) Directory.Delete(_directory, recursive: true);
    }

    private string LogPath => Path.Combine(_directory, "metadata.log");

    private string SnapshotPath => Path.Combine(_directory, "metadata.snapshot");

    private static byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);

    private Task<EmbeddedMetadataStore> OpenAsync(int snapshotCount = 100_000) =>
        EmbeddedMetadataStore.OpenAsync(_directory, new EmbeddedMetadataStoreOptions { SnapshotCount = snapshotCount });

    [Test]
    public async Task RecordsVersionsAndSequenceCountersSurviveReopen()
    {
        string seq1;
        await using (var store = await OpenAsync())
        {
            await store.PutAsync("/a/b", Bytes("v0"), null);
            await store.PutAsync("/a/b", Bytes("v1"), 0);
            await store.PutAsync("/gone", Bytes("x"), null);
            await store.DeleteAsync("/gone", null);
            await store.CreateAsync("/q/n-", Bytes("s0"), CreateOptions.Sequential);
            seq1 = await store.CreateAsync("/q/n-", Bytes("s1"), CreateOptions.Sequential);
            await store.DeleteAsync(seq1, null);
        }
        await using (var store = await OpenAsync())
        {
            var b = await store.GetAsync("/a/b");
            Assert.That(Encoding.UTF8.GetString(b!.Value), Is.EqualTo("v1"));
            Assert.That(b.Stat.Version, Is.EqualTo(1));
            Assert.That(await store.ExistsAsync("/gone"), Is.False);
            Assert.That(await store.GetChildrenAsync("/"), Is.EqualTo(new[] { "a", "q" }));
            string seq2 = await store.CreateAsync("/q/n-", Bytes("s2"), CreateOptions.Sequential);
            Assert.That(string.CompareOrdinal(seq2, seq1), Is.GreaterThan(0), "sequence numbers continue after reopen");
            Assert.ThrowsAsync<BadVersionException>(() => store.PutAsync("/a/b", Bytes("stale"), 0));
        }
    }

    [Test]
    public async Task EphemeralsOfThePreviousRunAreDroppedOnReopen()
    {
        await using (var store = await OpenAsync())
        {
            await store.CreateAsync("/live/eph", Bytes("e"), CreateOptions.Ephemeral);
            var other = store.CreateSession();
            await other.CreateAsync("/live/other", Bytes("o"), CreateOptions.Ephemeral | CreateOptions.Sequential);
            await store.PutAsync("/live/persistent", Bytes("p"), null);
            // Simulate a crash: the log still records both ephemerals as created.
            File.Copy(LogPath, LogPath + ".crash");
        }
        File.Move(LogPath + ".crash", LogPath, overwrite: true);
        await using (var store = await OpenAsync())
        {
            Assert.That(await store.GetChildrenAsync("/live"), Is.EqualTo(new[] { "persistent" }));
        }
        await using (var store = await OpenAsync())
        {
            Assert.That(await store.GetChildrenAsync("/live"), Is.EqualTo(new[] { "persistent" }), "the drop itself is durable");
        }
    }

    [Test]
    public async Task TornTailIsIgnoredAndTruncatedOnReopen()
    {
        await using (var store = await OpenAsync())
        {
            for (int i = 0; i < 5; i++) await store.PutAsync($"/r{i}", Bytes($"value-{i}"), null);
        }
        long fullLength = new FileInfo(LogPath).Length;
        // A crash in the middle of appending the last record: its tail never reached the disk.
        using (var log = new FileStream(LogPath, FileMode.Open)) log.SetLength(fullLength - 3);
        await using (var store = await OpenAsync())
        {
            for (int i = 0; i < 4; i++) Assert.That(await store.ExistsAsync($"/r{i}"), Is.True, $"/r{i}");
            Assert.That(await store.ExistsAsync("/r4"), Is.False, "the torn record is not applied");
            await store.PutAsync("/after", Bytes("written after the torn tail"), null);
        }
        await using (var store = await OpenAsync())
        {
            Assert.That(Encoding.UTF8.GetString((await store.GetAsync("/after"))!.Value), Is.EqualTo("written after the torn tail"));
            Assert.That(await store.GetChildrenAsync("/"), Is.EqualTo(new[] { "after", "r0", "r1", "r2", "r3" }));
        }
    }

    [Test]
    public async Task RecordFailingItsChecksumEndsTheReplay()
    {
        await using (var store = await OpenAsync())
        {
            await store.PutAsync("/first", Bytes("one"), null);
            await store.PutAsync("/second", Bytes("two-two-two"), null);
        }
        byte[] log = File.ReadAllBytes(LogPath);
        log[^2] ^= 0x5A; // flip a bit inside the last record's body
        File.WriteAllBytes(LogPath, log);
        await using var reopened = await OpenAsync();
        Assert.That(await reopened.ExistsAsync("/first"), Is.True);
        Assert.That(await reopened.ExistsAsync("/second"), Is.False);
    }

    [Test]
    public async Task SnapshotsCompactTheLogAndReopenRestoresEverything()
    {
        await using (var store = await OpenAsync(snapshotCount: 10))
        {
            for (int i = 0; i < 35; i++) await store.PutAsync($"/s/k{i % 7}", Bytes($"v{i}"), null);
            await store.CreateAsync("/s/eph", Bytes("e"), CreateOptions.Ephemeral);
            File.Copy(LogPath, LogPath + ".crash");
            File.Copy(SnapshotPath, SnapshotPath + ".crash");
        }
        Assert.That(File.Exists(SnapshotPath), Is.True);
        File.Move(LogPath + ".crash", LogPath, overwrite: true);
        File.Move(SnapshotPath + ".crash", SnapshotPath, overwrite: true);
        Assert.That(new FileInfo(LogPath).Length, Is.LessThan(10 * 64), "log holds only the records since the last snapshot");
        await using (var store = await OpenAsync(snapshotCount: 10))
        {
            for (int k = 0; k < 7; k++)
            {
                int last = 28 + k; // the last of the 35 puts to k{k}
                var r = await store.GetAsync($"/s/k{k}");
                Assert.That(Encoding.UTF8.GetString(r!.Value), Is.EqualTo($"v{last}"), $"k{k}");
                Assert.That(r.Stat.Version, Is.EqualTo(last / 7), $"version of k{k}");
            }
            Assert.That(await store.ExistsAsync("/s/eph"), Is.False, "ephemerals in a snapshot are dropped on reopen");
        }
    }

    [Test]
    public async Task CrashBetweenSnapshotAndLogResetReplaysNothingTwice()
    {
        byte[] logBeforeSnapshot;
        await using (var store = await OpenAsync(snapshotCount: 3))
        {
            await store.PutAsync("/c/a", Bytes("a"), null); // tx 1 (creates /c and /c/a)
            await store.PutAsync("/c/b", Bytes("b"), null); // tx 2
            logBeforeSnapshot = File.ReadAllBytes(LogPath);
            await store.PutAsync("/c/a", Bytes("a2"), 0);   // tx 3: snapshot at zxid 3, log reset
            Assert.That(new FileInfo(LogPath).Length, Is.Zero);
        }
        // As if the process died after renaming the snapshot but before emptying the log.
        File.WriteAllBytes(LogPath, logBeforeSnapshot);
        await using var reopened = await OpenAsync(snapshotCount: 3);
        var a = await reopened.GetAsync("/c/a");
        Assert.That(Encoding.UTF8.GetString(a!.Value), Is.EqualTo("a2"));
        Assert.That(a.Stat.Version, Is.EqualTo(1));
        Assert.That(await reopened.GetChildrenAsync("/c"), Is.EqualTo(new[] { "a", "b" }));
    }

    [Test]
    public async Task CorruptSnapshotIsRefused()
    {
        await using (var store = await OpenAsync(snapshotCount: 2))
        {
            await store.PutAsync("/x", Bytes("1"), null);
            await store.PutAsync("/y", Bytes("2"), null);
        }
        byte[] snapshot = File.ReadAllBytes(SnapshotPath);
        snapshot[snapshot.Length / 2] ^= 0xFF;
        File.WriteAllBytes(SnapshotPath, snapshot);
        Assert.ThrowsAsync<CorruptDataException>(() => OpenAsync(snapshotCount: 2));
    }

    [Test]
    public async Task SecondOpenOfTheSameDirectoryIsRefused()
    {
        await using var first = await OpenAsync();
        // A typed, machine-readable refusal (the CLI prints MetadataStoreBusy), caused by the store's LOCK file.
        var busy = Assert.ThrowsAsync<Pulsarish.Protocol.Errors.MetadataStoreBusyException>(() => OpenAsync());
        Assert.That(busy!.InnerException, Is.InstanceOf<IOException>());
        await first.PutAsync("/still-works", Bytes("yes"), null);
    }

    [Test]
    public async Task SessionsShareOneTreeAndOwnTheirEphemerals()
    {
        await using var owner = await OpenAsync();
        var bookie = owner.CreateSession();
        var broker = owner.CreateSession();
        await bookie.CreateAsync("/ledgers/available/b1", Bytes("b1"), CreateOptions.Ephemeral);
        await broker.CreateAsync("/loadbalance/brokers/br1", Bytes("br1"), CreateOptions.Ephemeral);
        Assert.That(bookie.SessionId, Is.Not.EqualTo(broker.SessionId));
        await bookie.DisposeAsync();
        Assert.That(await owner.ExistsAsync("/ledgers/available/b1"), Is.False);
        Assert.That(await owner.ExistsAsync("/loadbalance/brokers/br1"), Is.True);
        broker.ExpireSession();
        Assert.That(await owner.ExistsAsync("/loadbalance/brokers/br1"), Is.False);
        await broker.CreateAsync("/loadbalance/brokers/br1", Bytes("again"), CreateOptions.Ephemeral);
        Assert.That(await owner.ExistsAsync("/loadbalance/brokers/br1"), Is.True);
    }

    [Test]
    public async Task ClosingTheOwnerClosesTheTreeForEverySession()
    {
        var owner = await OpenAsync();
        var other = owner.CreateSession();
        await other.PutAsync("/before", Bytes("x"), null);
        await owner.DisposeAsync();
        Assert.ThrowsAsync<ObjectDisposedException>(() => other.GetAsync("/before"));
        Assert.Throws<ObjectDisposedException>(() => owner.CreateSession());
        Assert.DoesNotThrowAsync(async () => await other.DisposeAsync());
        await using var reopened = await OpenAsync();
        Assert.That(await reopened.ExistsAsync("/before"), Is.True);
    }

    [Test]
    public async Task OversizedValuesAndBadPathsAreRejected()
    {
        await using var store = await OpenAsync();
        Assert.ThrowsAsync<TooLargeException>(() =>
            store.PutAsync("/big", new byte[EmbeddedMetadataStoreOptions.DefaultMaxValueBytes + 1], null));
        Assert.ThrowsAsync<ArgumentException>(() => store.PutAsync("relative", Bytes("x"), null));
        Assert.ThrowsAsync<ArgumentException>(() => store.PutAsync("/a//b", Bytes("x"), null));
        Assert.ThrowsAsync<ArgumentException>(() => store.PutAsync("/a/", Bytes("x"), null));
        await store.CreateAsync("/eph", Bytes("x"), CreateOptions.Ephemeral);
        var ex = Assert.ThrowsAsync<MetadataStoreException>(() => store.PutAsync("/eph/child", Bytes("x"), null));
        Assert.That(ex!.Reason, Is.EqualTo("NoChildrenForEphemerals"));
    }

    [Test]
    public async Task FactoryOpensEmbeddedAndMemoryUrls()
    {
        await using (var embedded = await MetadataStoreFactory.CreateAsync("embedded:" + _directory))
        {
            await embedded.PutAsync("/durable", Bytes("d"), null);
        }
        await using (var reopened = await MetadataStoreFactory.CreateAsync("embedded:" + _directory))
        {
            Assert.That(await reopened.ExistsAsync("/durable"), Is.True);
        }
        await using (var memory = await MetadataStoreFactory.CreateAsync("memory:"))
        {
            Assert.That(await memory.ExistsAsync("/durable"), Is.False);
            await memory.PutAsync("/m", Bytes("m"), null);
            Assert.That(await memory.ExistsAsync("/m"), Is.True);
        }
        Assert.ThrowsAsync<ArgumentException>(() => MetadataStoreFactory.CreateAsync("etcd://somewhere"));
    }
}
