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

    [Test]
    public async Task EveryClientCommandTakesServiceUrlAndItsEnvironmentDefault()
    {
        string topic = $"url-{Guid.NewGuid():N}";
        var produced = await PulsarishCli.RunSeparatelyAsync("produce", topic, "-m", "one", "--service-url", Address);
        Assert.That(produced.Code, Is.Zero, produced.Error);
        var legacy = await PulsarishCli.RunSeparatelyAsync("produce", topic, "-m", "two", "--url", Address);
        Assert.That(legacy.Code, Is.Zero, "--url stays a hidden alias: " + legacy.Error);
        var env = new Dictionary<string, string> { ["PULSARISH_SERVICE_URL"] = Address };
        var consumed = await RunWithEnvironmentAsync(env, "consume", topic, "-s", "s", "-n", "2", "-p", "earliest", "--timeout-seconds", "30");
        Assert.That(consumed.Code, Is.Zero, consumed.Error);
        Assert.That(consumed.Output, Does.Contain("2 messages successfully consumed"));
        var tenants = await RunWithEnvironmentAsync(env, "admin", "tenants", "list");
        Assert.That(tenants.Code, Is.Zero, tenants.Error);
        Assert.That(tenants.Output, Does.Contain("public"));
        var perf = await RunWithEnvironmentAsync(env, "perf", "produce", topic, "-r", "10", "-d", "1s", "-i", "1");
        Assert.That(perf.Code, Is.Zero, perf.Error);

        foreach (var command in new[] { new[] { "produce", "t", "-m", "x" }, ["consume", "t", "-s", "s"], ["perf", "produce", "t"], ["perf", "consume", "t"], ["admin", "tenants", "list"] })
        {
            var help = await PulsarishCli.RunSeparatelyAsync([.. command, "--help"]);
            Assert.That(help.Output, Does.Contain("--service-url").And.Contain("PULSARISH_SERVICE_URL"), string.Join(' ', command));
            Assert.That(help.Output, Does.Not.Contain("--url "), "the alias is hidden");
        }
    }

    [Test]
    public async Task RefusedConnectionFailsFastWithOneErrorLine()
    {
        string nobody = $"127.0.0.1:{FreePort.Next()}";
        foreach (var command in new[]
                 {
                     new[] { "produce", "t", "-m", "x" }, ["consume", "t", "-s", "s"], ["perf", "produce", "t", "-d", "5s"],
                     ["perf", "consume", "t", "-d", "5s"], ["admin", "tenants", "list"], ["admin", "topics", "stats", "t"],
                 })
        {
            var clock = System.Diagnostics.Stopwatch.StartNew();
            var result = await PulsarishCli.RunSeparatelyAsync([.. command, "--service-url", nobody]);
            clock.Stop();
            string name = string.Join(' ', command);
            Assert.That(result.Code, Is.EqualTo(1), name);
            Assert.That(result.Error.Trim(), Does.StartWith($"error: ConnectionRefused: cannot connect to {nobody}"), name);
            Assert.That(result.Error.Trim().Split('\n'), Has.Length.EqualTo(1), name + ": " + result.Error);
            // The SDK's operation timeout is 30 s; the probe answers at once (process start-up aside).
            Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(20)), name);
        }
    }

    [Test]
    public async Task ClientCommandErrorsShareOneFormat()
    {
        foreach (var command in new[]
                 {
                     new[] { "produce", "persistent://bad tenant/ns/t", "-m", "x" }, ["consume", "persistent://bad tenant/ns/t", "-s", "s"],
                     ["perf", "produce", "persistent://bad tenant/ns/t", "-d", "1s"], ["perf", "consume", "persistent://bad tenant/ns/t", "-d", "1s"],
                     ["admin", "topics", "stats", "persistent://bad tenant/ns/t"],
                 })
        {
            var result = await PulsarishCli.RunSeparatelyAsync([.. command, "--service-url", Address]);
            string name = string.Join(' ', command);
            Assert.That(result.Code, Is.EqualTo(1), name);
            Assert.That(result.Error.Trim(), Does.StartWith("error: InvalidTopicName: "), name);
        }

        var missingFile = await PulsarishCli.RunSeparatelyAsync("produce", "t", "-f", "/nonexistent/file", "--service-url", Address);
        Assert.That(missingFile.Code, Is.EqualTo(1));
        Assert.That(missingFile.Error, Does.StartWith("error: IOError: "));
        var usage = await PulsarishCli.RunSeparatelyAsync("consume", "t", "-s", "s", "-t", "Sideways", "--service-url", Address);
        Assert.That(usage.Code, Is.EqualTo(2));
        Assert.That(usage.Error, Does.StartWith("error: BadArguments: unknown subscription type"));
    }

    [Test]
    public async Task BusyPortIsOneLineNamingThePortOption()
    {
        using var dir = new TempDir("busy");
        var standalone = await PulsarishCli.RunSeparatelyAsync("standalone", "--data-dir", dir.Path, "--port", _standalone!.Port.ToString());
        Assert.That(standalone.Code, Is.EqualTo(1));
        Assert.That(standalone.Error.Trim(), Is.EqualTo($"error: AddressInUse: 127.0.0.1:{_standalone.Port} is in use; choose another with --port"));
        var broker = await PulsarishCli.RunSeparatelyAsync("broker", "--metadata-url", "zk:127.0.0.1:1", "--broker-id", "b",
            "--port", _standalone.Port.ToString());
        Assert.That(broker.Code, Is.EqualTo(1));
        Assert.That(broker.Error.Trim(), Is.EqualTo($"error: AddressInUse: 127.0.0.1:{_standalone.Port} is in use; choose another with --port"));
        var bookie = await PulsarishCli.RunSeparatelyAsync("bookie", "--journal-dir", dir.Sub("j"), "--ledgers-dir", dir.Sub("l"),
            "--index-dir", dir.Sub("i"), "--port", _standalone.Port.ToString(), "--metrics-port", "0");
        Assert.That(bookie.Code, Is.EqualTo(1));
        Assert.That(bookie.Error.Trim(), Is.EqualTo($"error: AddressInUse: 127.0.0.1:{_standalone.Port} is in use; choose another with --port"));
    }

    [Test]
    public async Task ProduceSendsTheWholeSetOfMessagesNTimesAsItsHelpSays()
    {
        var produced = await PulsarishCli.RunSeparatelyAsync("produce", $"n-{Guid.NewGuid():N}", "-n", "10", "-m", "hello", "-m", "world", "-q",
            "--service-url", Address);
        Assert.That(produced.Code, Is.Zero, produced.Error);
        Assert.That(produced.Output.Trim(), Does.StartWith("20 messages successfully produced"));
        var help = await PulsarishCli.RunSeparatelyAsync("produce", "--help");
        Assert.That(help.Output, Does.Contain("-n 10 -m a -m b sends 20"));
    }

    [Test]
    public async Task StandalonePrintsEachBookieAddressBeforeReadyAndTheBrokerListsThem()
    {
        var lines = _standalone!.Log.Split('\n').Select(l => l.Trim()).ToList();
        int ready = lines.FindIndex(l => l.Contains("standalone ready "));
        var bookies = lines.Select((l, i) => (l, i)).Where(x => x.l.Contains("standalone bookie 127.0.0.1:")).ToList();
        Assert.That(bookies, Has.Count.EqualTo(3), _standalone.Log);
        Assert.That(bookies.All(b => b.i < ready), _standalone.Log);
        var printed = bookies.Select(b => b.l[(b.l.IndexOf("standalone bookie ", StringComparison.Ordinal) + "standalone bookie ".Length)..]).ToList();

        var listed = await AdminAsync("bookies", "list");
        Assert.That(listed.Code, Is.Zero, listed.Error);
        var addresses = listed.Output.Trim().Split('\n').Select(l => l.Split('\t')[1].Trim()).ToList();
        Assert.That(addresses, Is.EquivalentTo(printed), listed.Output);
    }

    [Test]
    public async Task AdminOutputNamesWhatItShows()
    {
        var brokers = await AdminAsync("brokers", "list");
        Assert.That(brokers.Code, Is.Zero, brokers.Error);
        Assert.That(brokers.Output.Trim().Split('\n'), Has.Length.EqualTo(1), "the standalone's broker lists itself");
        Assert.That(brokers.Output, Does.Contain(Address));

        var maxSize = await AdminAsync("namespaces", "get-max-message-size", "public/default");
        Assert.That(maxSize.Output.Trim(), Is.EqualTo("maxMessageSizeBytes: 5242880 (broker default)"), maxSize.Error);
        using (var json = JsonDocument.Parse((await AdminAsync("namespaces", "get-max-message-size", "public/default", "--output", "json")).Output))
        {
            Assert.That(json.RootElement.GetProperty("maxMessageSizeBytes").GetInt32(), Is.EqualTo(5 * 1024 * 1024));
            Assert.That(json.RootElement.GetProperty("brokerDefault")[0].GetString(), Is.EqualTo("maxMessageSizeBytes"));
        }

        string topic = $"persistent://public/default/types-{Guid.NewGuid():N}";
        Assert.That((await PulsarishCli.RunSeparatelyAsync("produce", topic, "-m", "x", "--service-url", Address)).Code, Is.Zero);
        foreach (var type in new[] { "Shared", "Key_Shared", "Failover", "Exclusive" })
        {
            var consumed = await PulsarishCli.RunSeparatelyAsync("consume", topic, "-s", "sub-" + type, "-t", type, "-n", "0",
                "--timeout-seconds", "1", "--service-url", Address);
            Assert.That(consumed.Error, Does.Not.StartWith("error:"), type);
        }
        using (var stats = JsonDocument.Parse((await AdminAsync("topics", "stats", topic)).Output))
        {
            var types = stats.RootElement.GetProperty("subscriptions").EnumerateArray()
                .ToDictionary(s => s.GetProperty("name").GetString()!, s => s.GetProperty("type").GetString());
            Assert.That(types["sub-Key_Shared"], Is.EqualTo("Key_Shared"));
            Assert.That(types["sub-Shared"], Is.EqualTo("Shared"));
            Assert.That(types["sub-Failover"], Is.EqualTo("Failover"));
            Assert.That(types["sub-Exclusive"], Is.EqualTo("Exclusive"));
        }

        string parts = $"persistent://public/default/parts-{Guid.NewGuid():N}";
        Assert.That((await AdminAsync("topics", "create-partitioned", parts, "-p", "3")).Code, Is.Zero);
        var listed = (await AdminAsync("topics", "list", "public/default")).Output.Split('\n').Select(l => l.Trim()).ToList();
        Assert.That(listed, Does.Contain(parts + "-partition-0").And.Contain(parts + "-partition-1").And.Contain(parts + "-partition-2"));
        Assert.That(listed, Does.Contain(topic));
        var partitioned = (await AdminAsync("topics", "list-partitioned-topics", "public/default")).Output.Split('\n').Select(l => l.Trim()).ToList();
        Assert.That(partitioned, Does.Contain(parts).And.Not.Contain(topic));
    }

    [Test]
    public async Task SkipCountsMessagesNotBatches()
    {
        string topic = $"persistent://public/default/skip-{Guid.NewGuid():N}";
        Assert.That((await AdminAsync("topics", "create", topic)).Code, Is.Zero);
        Assert.That((await AdminAsync("subscriptions", "create", topic, "-s", "audit", "--earliest")).Code, Is.Zero);
        // Ten messages sent at once travel in one batch (one entry).
        Assert.That((await PulsarishCli.RunSeparatelyAsync("produce", topic, "-m", "m", "-n", "10", "-q", "--service-url", Address)).Code, Is.Zero);
        var skipped = await AdminAsync("subscriptions", "skip", topic, "-s", "audit", "-n", "5", "--output", "json");
        using (var doc = JsonDocument.Parse(skipped.Output))
            Assert.That(doc.RootElement.GetProperty("skipped").GetInt64(), Is.EqualTo(5), skipped.Error);
        var rest = await PulsarishCli.RunSeparatelyAsync("consume", topic, "-s", "audit", "-n", "0", "--timeout-seconds", "3", "--service-url", Address);
        Assert.That(rest.Output, Does.Contain("5 messages successfully consumed"), rest.Output + rest.Error);
    }

    [Test]
    public async Task BookieCommandsOnARunningStandalonesStoreSayItIsBusy()
    {
        string metadata = Path.Combine(_standalone!.DataDir, "metadata");
        var result = await PulsarishCli.RunSeparatelyAsync("admin", "bookies", "list", "--metadata-url", "embedded:" + metadata);
        Assert.That(result.Code, Is.EqualTo(1));
        Assert.That(result.Error.Trim(), Is.EqualTo(
            $"error: MetadataStoreBusy: the embedded store at {metadata} is in use by a running process; stop it or use --service-url"));
    }

    private Task<(int Code, string Output, string Error)> AdminAsync(params string[] args)
        => PulsarishCli.RunSeparatelyAsync(["admin", "--service-url", Address, .. args]);

    private static async Task<(int Code, string Output, string Error)> RunWithEnvironmentAsync(
        IReadOnlyDictionary<string, string> environment, params string[] args)
    {
        var info = PulsarishBinary.StartInfo(args);
        foreach (var (name, value) in environment) info.Environment[name] = value;
        using var process = System.Diagnostics.Process.Start(info)!;
        var stdout = process.StandardOutput.ReadToEndAsync();
        var stderr = process.StandardError.ReadToEndAsync();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        return (process.ExitCode, await stdout, await stderr);
    }
}
