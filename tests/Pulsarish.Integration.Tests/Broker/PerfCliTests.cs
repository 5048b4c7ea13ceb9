using System.Text.Json;
using System.Text.RegularExpressions;
using Pulsarish.TestKit;

namespace Pulsarish.Integration.Tests.Broker;

/// <summary>
/// The pulsar-perf-like flags of <c>pulsarish perf produce</c> and <c>perf consume</c>, each run briefly through the
/// real binary against one real <c>pulsarish standalone</c> process: several topics, batch size, an HdrHistogram
/// interval log, p99.99, several subscriptions, a slow consumer, and bad values of the new flags.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class PerfCliTests
{
    private StandaloneProcess? _standalone;
    private string _dir = null!;

    private string Address => _standalone!.Address;

    [OneTimeSetUp]
    public async Task StartStandalone()
    {
        _standalone = await StandaloneProcess.StartAsync();
        _dir = Directory.CreateTempSubdirectory("pulsarish-perf-").FullName;
    }

    [OneTimeTearDown]
    public async Task StopStandalone()
    {
        if (_standalone is not null) await _standalone.DisposeAsync();
        Directory.Delete(_dir, recursive: true);
    }

    [Test]
    public async Task ProduceOverSeveralTopicsInSmallBatchesWritesAnIntervalLogThenSeveralSubscriptionsAndASlowConsumerRead()
    {
        string topic = $"perf-{Guid.NewGuid():N}";
        string log = Path.Combine(_dir, "produce.hlog");
        var produced = await PulsarishCli.RunSeparatelyAsync("perf", "produce", topic, "--num-topics", "3", "-r", "300",
            "--batch-max-messages", "4", "-d", "2s", "-i", "1", "--histogram-file", log, "--service-url", Address);
        Assert.That(produced.Code, Is.Zero, produced.Error);
        var aggregate = Regex.Match(produced.Output, @"Aggregated Produced: (\d+) msgs, 0 errors.* p99\.99 [0-9.]+ max");
        Assert.That(aggregate.Success, Is.True, produced.Output);
        long messages = long.Parse(aggregate.Groups[1].Value);
        Assert.That(messages, Is.GreaterThan(0));

        // An HdrHistogram interval log in ASCII: header, legend, then "start,length,max,HISTF…" per interval.
        string[] lines = await File.ReadAllLinesAsync(log);
        Assert.That(lines[0], Does.StartWith("#[Histogram log format version"), string.Join('\n', lines));
        Assert.That(lines, Has.Some.StartWith("#[StartTime: "));
        Assert.That(lines.Count(l => Regex.IsMatch(l, @"^\d+\.\d+,\d+\.\d+,\d+\.\d+,HIST")), Is.GreaterThanOrEqualTo(2),
            string.Join('\n', lines));

        // Every topic got its share, in entries of at most 4 messages.
        long entries = 0;
        for (int i = 0; i < 3; i++)
        {
            var stats = await PulsarishCli.RunSeparatelyAsync("admin", "--service-url", Address, "topics", "internal-stats", $"{topic}-{i}");
            Assert.That(stats.Code, Is.Zero, stats.Error);
            using var doc = JsonDocument.Parse(stats.Output);
            long topicEntries = doc.RootElement.GetProperty("entries").GetInt64();
            Assert.That(topicEntries, Is.GreaterThan(0), $"{topic}-{i} has entries");
            entries += topicEntries;
        }
        Assert.That(entries, Is.GreaterThanOrEqualTo((messages + 3) / 4), "no entry holds more than --batch-max-messages messages");

        // Two subscriptions on each of the three topics each read everything.
        var consumed = await PulsarishCli.RunSeparatelyAsync("perf", "consume", topic, "--num-topics", "3", "--num-subscriptions", "2",
            "-p", "earliest", "-d", "4s", "--json", "--service-url", Address);
        Assert.That(consumed.Code, Is.Zero, consumed.Error);
        using var summary = JsonDocument.Parse(consumed.Output);
        // Both subscriptions read every stored message: the producer's summary leaves out the sends acknowledged after
        // its last report, so at least twice what it counted, and the same for each subscription.
        long received = summary.RootElement.GetProperty("messages").GetInt64();
        Assert.That(received, Is.GreaterThanOrEqualTo(2 * messages), consumed.Output);
        Assert.That(received % 2, Is.Zero, consumed.Output);
        Assert.That(summary.RootElement.GetProperty("p9999Millis").GetDouble(), Is.GreaterThan(0));
        for (int i = 0; i < 3; i++)
        {
            var stats = await PulsarishCli.RunSeparatelyAsync("admin", "--service-url", Address, "topics", "internal-stats", $"{topic}-{i}");
            using var doc = JsonDocument.Parse(stats.Output);
            var cursors = doc.RootElement.GetProperty("cursors").EnumerateArray().Select(c => c.GetProperty("name").GetString()).ToList();
            Assert.That(cursors, Is.SupersetOf(new[] { "perf-0", "perf-1" }), stats.Output);
        }

        // A slow consumer: 100 ms per message for 2 s takes about 20 of the ~200 stored on the first topic.
        var slow = await PulsarishCli.RunSeparatelyAsync("perf", "consume", $"{topic}-0", "--subscription", "slow", "-p", "earliest",
            "--receive-delay-ms", "100", "-d", "2s", "--json", "--service-url", Address);
        Assert.That(slow.Code, Is.Zero, slow.Error);
        using var slowSummary = JsonDocument.Parse(slow.Output);
        Assert.That(slowSummary.RootElement.GetProperty("messages").GetInt64(), Is.InRange(1, 40), slow.Output);
        var slowStats = await PulsarishCli.RunSeparatelyAsync("admin", "--service-url", Address, "topics", "internal-stats", $"{topic}-0");
        using var slowDoc = JsonDocument.Parse(slowStats.Output);
        var cursor = slowDoc.RootElement.GetProperty("cursors").EnumerateArray().Single(c => c.GetProperty("name").GetString() == "slow");
        Assert.That(cursor.GetProperty("backlogEntries").GetInt64(), Is.GreaterThan(0), "the slow consumer left a backlog");
    }

    [Test]
    public async Task BadPerfArgumentsAreRefusedWithExitCodeTwo()
    {
        foreach (var args in new[]
                 {
                     new[] { "perf", "produce", "t", "--num-topics", "0" }, ["perf", "produce", "t", "--batch-max-messages", "0"],
                     ["perf", "consume", "t", "--num-subscriptions", "0"], ["perf", "consume", "t", "--receive-delay-ms", "-1"],
                 })
        {
            var result = await PulsarishCli.RunSeparatelyAsync([.. args, "--service-url", Address]);
            Assert.That(result.Code, Is.EqualTo(2), string.Join(' ', args) + "\n" + result.Error);
        }
    }
}
