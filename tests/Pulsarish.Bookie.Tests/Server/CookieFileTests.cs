using Pulsarish.Bookie.Registration;
using Pulsarish.Metadata;

namespace Pulsarish.Metadata.Tests.Metadata;

/// <summary>Local cookie files in the bookie's directories and the refusal of swapped or empty disks (real files).</summary>
[TestFixture]
public sealed class CookieFileTests
{
    private string _root = "";

    [SetUp]
    public void CreateRoot()
    {
        _root = Path.Combine(Path.GetTempPath(), "pulsarish-cookie-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_root);
    }

    [TearDown]
    public void DeleteRoot() => Directory.Delete(_root, recursive: true);

    private (string Journal, string Ledgers, string Index) Dirs(string bookie) =>
        (Path.Combine(_root, bookie, "journal"), Path.Combine(_root, bookie, "ledgers"), Path.Combine(_root, bookie, "index"));

    private (Pulsarish.Protocol.Metadata.Cookie Cookie, bool IsNew) Load(string bookie)
    {
        var d = Dirs(bookie);
        return CookieFile.LoadOrCreate(bookie, d.Journal, d.Ledgers, d.Index);
    }

    [Test]
    public void NewDisksGetAFreshCookieThatIsReadBackAfterWriting()
    {
        var (fresh, isNew) = Load("b1");
        Assert.That(isNew, Is.True);
        Assert.That(fresh.InstanceId, Is.Not.Empty);
        CookieFile.WriteAll(fresh);
        var (again, againNew) = Load("b1");
        Assert.That(againNew, Is.False);
        Assert.That(again, Is.EqualTo(fresh));
        Assert.That(Load("b2").Cookie.InstanceId, Is.Not.EqualTo(fresh.InstanceId));
    }

    [Test]
    public void AnEmptiedDiskIsRefused()
    {
        var (cookie, _) = Load("b1");
        CookieFile.WriteAll(cookie);
        File.Delete(Path.Combine(Dirs("b1").Ledgers, CookieFile.FileName));
        var ex = Assert.Throws<InvalidCookieException>(() => Load("b1"));
        Assert.That(ex!.BookieId, Is.EqualTo("b1"));
    }

    [Test]
    public void SwappedDisksAreRefused()
    {
        var (c1, _) = Load("b1");
        var (c2, _) = Load("b2");
        CookieFile.WriteAll(c1);
        CookieFile.WriteAll(c2);
        // b1's ledgers disk now carries b2's content.
        File.Copy(Path.Combine(Dirs("b2").Ledgers, CookieFile.FileName), Path.Combine(Dirs("b1").Ledgers, CookieFile.FileName), overwrite: true);
        Assert.Throws<InvalidCookieException>(() => Load("b1"));
    }

    [Test]
    public async Task BookieWithWipedDisksCannotRejoinUnderItsId()
    {
        await using var store = EmbeddedMetadataStore.CreateInMemory();
        var registry = new BookieRegistry(store);
        var (first, isNew) = Load("b1");
        await registry.VerifyOrCreateCookieAsync(first, isNew);
        CookieFile.WriteAll(first);

        var (sameDisks, sameNew) = Load("b1");
        Assert.DoesNotThrowAsync(() => registry.VerifyOrCreateCookieAsync(sameDisks, sameNew));

        Directory.Delete(Path.Combine(_root, "b1"), recursive: true); // all disks replaced by empty ones
        var (wiped, wipedNew) = Load("b1");
        Assert.That(wipedNew, Is.True);
        Assert.ThrowsAsync<InvalidCookieException>(() => registry.VerifyOrCreateCookieAsync(wiped, wipedNew));
    }

    [Test]
    public void GarbageCookieFileIsRefused()
    {
        var d = Dirs("b1");
        Directory.CreateDirectory(d.Journal);
        File.WriteAllText(Path.Combine(d.Journal, CookieFile.FileName), "{ not json");
        Assert.Throws<InvalidCookieException>(() => Load("b1"));
    }
}
