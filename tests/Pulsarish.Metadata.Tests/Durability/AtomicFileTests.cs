using Pulsarish.Metadata;

namespace Pulsarish.Metadata.Tests.Durability;

/// <summary>The one durable atomic file write and the directory fsync, on real files in a temporary directory.</summary>
public class AtomicFileTests
{
    private string _dir = "";

    [SetUp]
    public void CreateDir()
    {
        _dir = Path.Combine(Path.GetTempPath(), "pulsarish-atomicfile-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void DeleteDir() => Directory.Delete(_dir, recursive: true);

    [Test]
    public void WriteCreatesTheFileWithExactlyTheBytes()
    {
        string path = Path.Combine(_dir, "cookie");
        byte[] data = "first version"u8.ToArray();

        AtomicFile.Write(path, data);

        Assert.That(File.ReadAllBytes(path), Is.EqualTo(data));
        Assert.That(File.Exists(path + AtomicFile.TempSuffix), Is.False, "no temporary file left behind");
    }

    [Test]
    public async Task WriteReplacesALongerFileWhole()
    {
        string path = Path.Combine(_dir, "snapshot");
        AtomicFile.Write(path, new byte[64 * 1024]);
        byte[] shorter = "short"u8.ToArray();

        await AtomicFile.WriteAsync(path, shorter);

        Assert.That(File.ReadAllBytes(path), Is.EqualTo(shorter), "no tail of the old content");
        Assert.That(Directory.GetFiles(_dir), Is.EqualTo(new[] { path }));
    }

    [Test]
    public void WrittenFileSurvivesAReopenAfterAStaleTemporaryFile()
    {
        string path = Path.Combine(_dir, "supervisor.pid");
        // A crash between the temporary write and the rename leaves a stale temporary file: the next write wins.
        File.WriteAllBytes(path + AtomicFile.TempSuffix, "torn"u8.ToArray());
        byte[] data = new byte[10_000];
        new Random(7).NextBytes(data);

        AtomicFile.Write(path, data);

        using var reopened = new FileStream(path, FileMode.Open, FileAccess.Read, FileShare.None);
        var read = new byte[reopened.Length];
        reopened.ReadExactly(read);
        Assert.That(read, Is.EqualTo(data));
        Assert.That(File.Exists(path + AtomicFile.TempSuffix), Is.False);
    }

    [Test]
    public void WriteIntoAMissingDirectoryThrowsAndLeavesNothing()
    {
        string path = Path.Combine(_dir, "missing", "cookie");

        Assert.That(() => AtomicFile.Write(path, "x"u8), Throws.InstanceOf<IOException>());
        Assert.That(Directory.Exists(Path.Combine(_dir, "missing")), Is.False);
    }

    [Test]
    public void SyncDirectorySyncsARealDirectoryAndRejectsAMissingOne()
    {
        File.WriteAllBytes(Path.Combine(_dir, "created"), [1, 2, 3]);

        Assert.That(() => FileSystemSync.SyncDirectory(_dir), Throws.Nothing);
        if (!OperatingSystem.IsWindows())
        {
            Assert.That(() => FileSystemSync.SyncDirectory(Path.Combine(_dir, "no-such-dir")), Throws.InstanceOf<IOException>());
        }
    }

    [Test]
    public void SyncFileSyncsAnOpenFile()
    {
        string path = Path.Combine(_dir, "data");
        using var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite);
        RandomAccess.Write(handle, "durable"u8, 0);

        Assert.That(() => FileSystemSync.SyncFile(handle), Throws.Nothing);
        Assert.That(RandomAccess.GetLength(handle), Is.EqualTo(7));
    }
}
