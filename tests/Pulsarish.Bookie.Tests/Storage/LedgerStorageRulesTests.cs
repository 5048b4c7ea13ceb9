using Pulsarish.Bookie.Storage;
using Pulsarish.Protocol.Errors;

namespace Pulsarish.Bookie.Tests.Storage;

public class LedgerStorageRulesTests : StorageTestBase
{
    [Test]
    public async Task FenceSurvivesRestart()
    {
        StorageOptions options = Options();
        LedgerStorage storage = Open(options);
        await storage.AddEntryAsync(9, 0, Key, -1, Payload(9, 0), recovery: false);
        LedgerInfo fenced = await storage.FenceAsync(9, Key);
        Assert.That(fenced, Is.EqualTo(new LedgerInfo(true, -1, 0)));
        // Crash: the fence is only in the journal.
        storage.SimulateCrash();

        LedgerStorage reopened = Open(options);
        Assert.That(reopened.GetLedgerInfo(9)!.Value.Fenced, Is.True);
        Assert.ThrowsAsync<LedgerFencedException>(async () =>
            await reopened.AddEntryAsync(9, 1, Key, 0, Payload(9, 1), recovery: false));
        // And after a flush into the index plus a clean restart.
        await reopened.FlushAsync();
        await reopened.DisposeAsync();
        LedgerStorage again = Open(options);
        Assert.That(again.GetLedgerInfo(9)!.Value.Fenced, Is.True);
        Assert.ThrowsAsync<LedgerFencedException>(async () =>
            await again.AddEntryAsync(9, 1, Key, 0, Payload(9, 1), recovery: false));
    }

    [Test]
    public async Task FenceOfUnknownLedgerCreatesItWithTheKey()
    {
        LedgerStorage storage = Open(Options());
        LedgerInfo info = await storage.FenceAsync(77, Key);
        Assert.That(info, Is.EqualTo(new LedgerInfo(true, -1, -1)));
        Assert.That(storage.ListLedgers(), Does.Contain(77L));
        Assert.ThrowsAsync<UnauthorizedException>(async () => await storage.FenceAsync(77, "nope"u8.ToArray()));
    }

    [Test]
    public async Task NormalAddOnFencedLedgerIsRejected()
    {
        LedgerStorage storage = Open(Options());
        await storage.AddEntryAsync(2, 0, Key, -1, Payload(2, 0), recovery: false);
        await storage.FenceAsync(2, Key);
        var error = Assert.ThrowsAsync<LedgerFencedException>(async () =>
            await storage.AddEntryAsync(2, 1, Key, 0, Payload(2, 1), recovery: false));
        Assert.That(error!.Reason, Is.EqualTo("Fenced"));
        Assert.ThrowsAsync<NoSuchEntryException>(async () => await storage.ReadEntryAsync(2, 1));
    }

    [Test]
    public async Task RecoveryAddOnFencedLedgerSucceeds()
    {
        LedgerStorage storage = Open(Options());
        await storage.AddEntryAsync(2, 0, Key, -1, Payload(2, 0), recovery: false);
        await storage.FenceAsync(2, Key);
        await storage.AddEntryAsync(2, 1, Key, 0, Payload(2, 1), recovery: true);
        // A recovery add may rewrite an entry the bookie already has: last write wins.
        await storage.AddEntryAsync(2, 0, Key, -1, Payload(2, 0), recovery: true);
        Assert.That(await storage.ReadEntryAsync(2, 1), Is.EqualTo(Payload(2, 1)));
        Assert.That(await storage.ReadEntryAsync(2, 0), Is.EqualTo(Payload(2, 0)));
        Assert.That(storage.GetLedgerInfo(2), Is.EqualTo(new LedgerInfo(true, 0, 1)));
    }

    [Test]
    public async Task WrongMasterKeyIsUnauthorized()
    {
        LedgerStorage storage = Open(Options());
        await storage.AddEntryAsync(4, 0, Key, -1, Payload(4, 0), recovery: false);
        Assert.ThrowsAsync<UnauthorizedException>(async () =>
            await storage.AddEntryAsync(4, 1, "another-key"u8.ToArray(), 0, Payload(4, 1), recovery: false));
        Assert.ThrowsAsync<UnauthorizedException>(async () => await storage.FenceAsync(4, "another-key"u8.ToArray()));
        Assert.That(storage.GetLedgerInfo(4)!.Value.Fenced, Is.False);
    }

    [Test]
    public void BadInputIsRejected()
    {
        LedgerStorage storage = Open(Options(o => o.MaxEntryBytes = 64 * 1024));
        Assert.ThrowsAsync<BadRequestException>(async () => await storage.AddEntryAsync(-1, 0, Key, -1, Payload(1, 0), false));
        Assert.ThrowsAsync<BadRequestException>(async () => await storage.AddEntryAsync(1, -1, Key, -1, Payload(1, 0), false));
        Assert.ThrowsAsync<BadRequestException>(async () => await storage.AddEntryAsync(1, 0, Key, -1, ReadOnlyMemory<byte>.Empty, false));
        Assert.ThrowsAsync<TooLargeException>(async () => await storage.AddEntryAsync(1, 0, Key, -1, new byte[64 * 1024 + 1], false));
        Assert.ThrowsAsync<BadRequestException>(async () => await storage.ReadEntryAsync(-5, 0));
        Assert.ThrowsAsync<BadRequestException>(async () => await storage.FenceAsync(-5, Key));
        Assert.ThrowsAsync<NoSuchLedgerException>(async () => await storage.ReadEntryAsync(1, 0));
        Assert.That(storage.ListLedgers(), Is.Empty, "rejected adds leave no trace");
        Assert.That(() => new LedgerStorage(Options(o => o.CompactionThreshold = 2)), Throws.ArgumentException);
        Assert.That(() => new LedgerStorage(Options(o => o.WriteCacheMaxBytes = 1024)), Throws.ArgumentException);
    }

    [Test]
    public async Task MaximumSizeEntryIsAccepted()
    {
        LedgerStorage storage = Open(Options(o => o.MaxEntryBytes = 1024 * 1024));
        byte[] big = Payload(1, 0, 1024 * 1024);
        await storage.AddEntryAsync(1, 0, Key, -1, big, recovery: false);
        await storage.FlushAsync();
        Assert.That(await storage.ReadEntryAsync(1, 0), Is.EqualTo(big));
    }

    [Test]
    public async Task FlippedByteInEntryLogIsReportedAsCorrupt()
    {
        StorageOptions options = Options(o => o.ReadCacheMaxBytes = 0);
        LedgerStorage storage = Open(options);
        byte[] payload = Payload(6, 0, 2000);
        await storage.AddEntryAsync(6, 0, Key, -1, payload, recovery: false);
        await storage.FlushAsync();
        string log = Directory.GetFiles(options.LedgersDir, "*.log").Single(f => new FileInfo(f).Length > 0);
        byte[] content = await File.ReadAllBytesAsync(log);
        int at = content.AsSpan().IndexOf(payload.AsSpan(0, 32));
        Assert.That(at, Is.GreaterThan(0), "payload found in the entry log");
        using (var stream = new FileStream(log, FileMode.Open, FileAccess.Write))
        {
            stream.Position = at + 1000;
            stream.WriteByte((byte)(content[at + 1000] ^ 0x01));
        }
        Assert.ThrowsAsync<CorruptDataException>(async () => await storage.ReadEntryAsync(6, 0));
    }

    [Test]
    public async Task DeletedLedgerIsGoneAfterRestart()
    {
        StorageOptions options = Options();
        LedgerStorage storage = Open(options);
        await storage.AddEntryAsync(1, 0, Key, -1, Payload(1, 0), recovery: false);
        await storage.AddEntryAsync(2, 0, Key, -1, Payload(2, 0), recovery: false);
        await storage.DeleteLedgerAsync(1);
        Assert.ThrowsAsync<NoSuchLedgerException>(async () => await storage.ReadEntryAsync(1, 0));
        storage.SimulateCrash();

        LedgerStorage reopened = Open(options);
        Assert.That(reopened.ListLedgers(), Is.EqualTo(new long[] { 2 }));
        Assert.That(reopened.GetLedgerInfo(1), Is.Null);
        Assert.That(await reopened.ReadEntryAsync(2, 0), Is.EqualTo(Payload(2, 0)));
    }
}
