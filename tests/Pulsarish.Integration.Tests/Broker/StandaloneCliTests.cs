using System.Diagnostics;
using Pulsarish.TestKit;

namespace Pulsarish.Integration.Tests.Broker;

/// <summary>
/// The README's first steps as processes: <c>pulsarish standalone</c>, then <c>pulsarish produce</c> and
/// <c>pulsarish consume</c> against it, and its <c>/metrics</c> endpoint counting what went through.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class StandaloneCliTests
{
    [Test]
    public async Task ProduceAndConsumeCommandsRoundTripThroughStandalone()
    {
        await using var standalone = await StandaloneProcess.StartAsync(extraArgs: ["--metrics-port", "0"]);
        string topic = $"cli-{Guid.NewGuid():N}";

        var produced = await RunAsync("produce", topic, "-m", "hello", "-m", "world", "-n", "3", "--url", standalone.Address);
        Assert.That(produced.ExitCode, Is.EqualTo(0), produced.Output);
        Assert.That(produced.Output, Does.Contain("6 messages successfully produced"));

        var consumed = await RunAsync("consume", topic, "-s", "cli-sub", "-t", "Key_Shared", "-n", "6",
            "--initial-position", "earliest", "--timeout-seconds", "30", "--url", standalone.Address);
        Assert.That(consumed.ExitCode, Is.EqualTo(0), consumed.Output);
        Assert.That(consumed.Output, Does.Contain("6 messages successfully consumed"));
        var bodies = consumed.Output.Split('\n').Select(l => l.Trim()).Where(l => l is "hello" or "world").ToList();
        Assert.That(bodies, Is.EqualTo(new[] { "hello", "world", "hello", "world", "hello", "world" }));

        var badType = await RunAsync("consume", topic, "-s", "x", "-t", "Sideways", "--url", standalone.Address);
        Assert.That(badType.ExitCode, Is.EqualTo(2));
        Assert.That(badType.Output, Does.Contain("unknown subscription type"));

        Assert.That(standalone.MetricsUrl, Is.Not.Null, standalone.Log);
        using var http = new HttpClient();
        string metrics = await http.GetStringAsync(standalone.MetricsUrl);
        Assert.That(metrics, Does.Contain("pulsarish_broker_messages_in_total 6"));
        Assert.That(metrics, Does.Contain("pulsarish_broker_messages_out_total 6"));
        // The publish latency histogram counts messages, however the producer batched them.
        Assert.That(metrics, Does.Contain("pulsarish_broker_publish_latency_seconds_count 6"));
    }

    private static async Task<(int ExitCode, string Output)> RunAsync(params string[] args)
    {
        using var process = new Process { StartInfo = PulsarishBinary.StartInfo(args) };
        process.Start();
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }

        return (process.ExitCode, await stdout + await stderr);
    }
}
