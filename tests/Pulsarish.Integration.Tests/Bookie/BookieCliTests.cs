using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Logging.Abstractions;
using Pulsarish.Bookie.Storage;
using Pulsarish.TestKit;

namespace Pulsarish.Integration.Tests.Bookie;

/// <summary>The `pulsarish bookie` and `pulsarish perf bookie` commands as real processes.</summary>
[TestFixture]
[NonParallelizable]
public sealed class BookieCliTests
{
    [Test]
    public async Task BookieWithInvalidOptionsExitsNonZeroAndSaysWhy()
    {
        using var dir = new TempDir("bookie-cli");
        var (exitCode, output) = await RunAsync(TimeSpan.FromSeconds(60), "bookie",
            "--journal-dir", dir.Sub("j"), "--ledgers-dir", dir.Sub("l"), "--index-dir", dir.Sub("i"),
            "--port", "0", "--metrics-port", "0", "--max-entry-bytes", "0");

        Assert.That(exitCode, Is.Not.EqualTo(0), output);
        Assert.That(output, Does.Contain("MaxEntryBytes"));
        Assert.That(output, Does.Not.Contain("bookie ready"));
    }

    [Test]
    public async Task BookieOverACorruptEarlierJournalFileExitsNonZeroNamingFileAndOffset()
    {
        using var dir = new TempDir("bookie-cli");
        string damaged = await WriteJournalWithACorruptEarlierFileAsync(Path.Combine(dir.Path, "journal"));

        var (exitCode, output) = await RunAsync(TimeSpan.FromSeconds(60), "bookie",
            "--journal-dir", Path.Combine(dir.Path, "journal"), "--ledgers-dir", dir.Sub("ledgers"),
            "--index-dir", dir.Sub("index"), "--port", "0", "--metrics-port", "0");

        Assert.That(exitCode, Is.EqualTo(4), output);
        Assert.That(output, Does.Contain($"bookie refused to start: journal file {damaged} is corrupt at offset 0:"));
        Assert.That(output, Does.Contain("--accept-journal-corruption"));
        Assert.That(output, Does.Not.Contain("bookie ready"));
        Assert.That(output, Does.Not.Contain("   at "), "one line, no stack trace");
    }

    [Test]
    public async Task BookieAcceptingJournalCorruptionStartsReadOnlyAndLogsFileAndOffset()
    {
        using var dir = new TempDir("bookie-cli");
        string damaged = await WriteJournalWithACorruptEarlierFileAsync(Path.Combine(dir.Path, "journal"));

        await using var bookie = await BookieProcess.StartAsync(dir.Path, ["--accept-journal-corruption"]);

        using var channel = BookieRequests.Channel(bookie.Address);
        var info = await new Protocol.Bookie.Bookie.BookieClient(channel).GetInfoAsync(new Protocol.Bookie.BookieInfoRequest());
        Assert.That(info.ReadOnly, Is.True, bookie.Log);
        Assert.That(bookie.Log, Does.Contain($"Journal file {damaged} is corrupt at offset 0:"));
        Assert.That(await bookie.StopAsync(), Is.EqualTo(0), bookie.Log);
    }

    [Test]
    public async Task PerfBookieReportsAddsLatencyAndTheDiskCeilingAsJson()
    {
        await using var bookie = await BookieProcess.StartAsync();
        using var ceiling = new TempDir("ceiling");

        var (exitCode, output) = await RunAsync(TimeSpan.FromSeconds(90), "perf", "bookie",
            "--address", bookie.Address, "--writers", "4", "--entry-bytes", "256", "--pipeline", "2",
            "--duration", "1s", "--warmup", "500ms", "--ceiling-dir", ceiling.Path, "--ceiling-duration", "400ms", "--json");

        Assert.That(exitCode, Is.EqualTo(0), output);
        string json = output.Split('\n').Single(l => l.TrimStart().StartsWith('{'));
        using var report = JsonDocument.Parse(json);
        var root = report.RootElement;
        Assert.That(root.GetProperty("adds").GetInt64(), Is.GreaterThan(0), json);
        Assert.That(root.GetProperty("errors").GetInt64(), Is.EqualTo(0), json);
        Assert.That(root.GetProperty("p50Micros").GetInt64(), Is.GreaterThan(0), json);
        Assert.That(root.GetProperty("p99Micros").GetInt64(), Is.GreaterThanOrEqualTo(root.GetProperty("p50Micros").GetInt64()));
        Assert.That(root.GetProperty("ceilingMbPerSecond").GetDouble(), Is.GreaterThan(0), json);
        Assert.That(root.GetProperty("allocatedBytesPerAdd").GetDouble(), Is.GreaterThan(0), json);
    }

    /// <summary>
    /// Writes two journal files through the real journal (rolled at 64 KiB) and flips a checksum byte of the first
    /// file's first record; returns that file's path. No index yet, so a bookie replays both files.
    /// </summary>
    private static async Task<string> WriteJournalWithACorruptEarlierFileAsync(string journalDir)
    {
        var options = new StorageOptions { JournalDir = journalDir, JournalMaxFileBytes = 64 * 1024 };
        await using (var journal = new Journal(options, NullLogger.Instance))
        {
            byte[] entry = new byte[4000];
            for (long entryId = 0; entryId < 40; entryId++)
            {
                await journal.AppendAsync(JournalRecordKind.Entry, 1, entryId, entryId - 1, entry);
            }
        }
        string[] files = Directory.GetFiles(journalDir, "*.journal").Order(StringComparer.Ordinal).ToArray();
        Assert.That(files, Has.Length.GreaterThanOrEqualTo(2), "the journal rolled");
        using (var stream = new FileStream(files[0], FileMode.Open, FileAccess.ReadWrite))
        {
            stream.Position = 5;
            int b = stream.ReadByte();
            stream.Position = 5;
            stream.WriteByte((byte)(b ^ 0x5A));
        }
        return files[0];
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(TimeSpan timeout, params string[] args)
    {
        using var process = new Process { StartInfo = PulsarishBinary.StartInfo(args) };
        process.Start();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"pulsarish {string.Join(' ', args)} still running after {timeout}");
        }

        return (process.ExitCode, await stdout + await stderr);
    }
}
