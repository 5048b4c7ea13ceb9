using System.Text.Json;
using Pulsarish.TestKit;

namespace Pulsarish.Integration.Tests.Broker;

/// <summary>
/// What a new user's first hour with the README runs into, as real <c>pulsarish</c> processes against one real
/// <c>pulsarish standalone</c> process (embedded metadata, 3 bookies, 1 broker).
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class FirstHourCliTests
{
    private StandaloneProcess? _standalone;

    private string Address => _standalone!.Address;

    [OneTimeSetUp]
    public async Task StartStandalone() => _standalone = await StandaloneProcess.StartAsync();

    [OneTimeTearDown]
    public async Task StopStandalone()
    {
        if (_standalone is not null) await _standalone.DisposeAsync();
    }

    [Test]
    public async Task PerfConsumeAtLatestAfterTheProducerStoppedSummarizesZeroMessages()
    {
        string topic = $"perf-{Guid.NewGuid():N}";
        var produced = await PulsarishCli.RunSeparatelyAsync("perf", "produce", topic, "-r", "200", "-d", "2s", "-i", "1", "--url", Address);
        Assert.That(produced.Code, Is.Zero, produced.Error);

        var consumed = await PulsarishCli.RunSeparatelyAsync("perf", "consume", topic, "--subscription", "perf", "-d", "2s", "-i", "1", "--url", Address);
        Assert.That(consumed.Code, Is.Zero, consumed.Error);
        Assert.That(consumed.Output, Does.Contain("Aggregated Received: 0 msgs"));
        Assert.That(consumed.Error, Does.Not.Contain("Exception"));

        var json = await PulsarishCli.RunSeparatelyAsync("perf", "consume", topic, "--subscription", "perf", "-d", "1s", "--json", "--url", Address);
        Assert.That(json.Code, Is.Zero, json.Error);
        using var summary = JsonDocument.Parse(json.Output);
        Assert.That(summary.RootElement.GetProperty("messages").GetInt64(), Is.Zero);
    }

    [Test]
    public async Task PerfConsumeFromEarliestAcknowledgesEverythingItReceivedBeforeExit()
    {
        string topic = $"perf-{Guid.NewGuid():N}";
        var produced = await PulsarishCli.RunSeparatelyAsync("perf", "produce", topic, "-r", "500", "-d", "2s", "-i", "1", "--url", Address);
        Assert.That(produced.Code, Is.Zero, produced.Error);

        var consumed = await PulsarishCli.RunSeparatelyAsync("perf", "consume", topic, "--subscription", "all", "-p", "earliest",
            "-d", "3s", "-i", "1", "--url", Address);
        Assert.That(consumed.Code, Is.Zero, consumed.Error);
        Assert.That(consumed.Output, Does.Match("Aggregated Received: [1-9][0-9]* msgs, 0 errors"));

        var stats = await PulsarishCli.RunSeparatelyAsync("admin", "--service-url", Address, "topics", "stats", topic);
        Assert.That(stats.Code, Is.Zero, stats.Error);
        using var doc = JsonDocument.Parse(stats.Output);
        var all = doc.RootElement.GetProperty("subscriptions").EnumerateArray().Single(s => s.GetProperty("name").GetString() == "all");
        Assert.That(all.GetProperty("backlogEntries").GetInt64(), Is.Zero, stats.Output);
        Assert.That(all.GetProperty("individuallyDeletedEntries").GetInt64(), Is.Zero, stats.Output);
    }
}
