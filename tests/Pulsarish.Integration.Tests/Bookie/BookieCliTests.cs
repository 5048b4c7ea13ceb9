using System.Diagnostics;
using System.Text.Json;
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
            "--port", "0", "--max-entry-bytes", "0");

        Assert.That(exitCode, Is.Not.EqualTo(0), output);
        Assert.That(output, Does.Contain("MaxEntryBytes"));
        Assert.That(output, Does.Not.Contain("bookie ready"));
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
