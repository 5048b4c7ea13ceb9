using System.Globalization;
using System.Text.Json;
using Pulsarish.Hosting.Configuration;

namespace Pulsarish.Cluster.Tests.Configuration;

/// <summary>
/// Configuration of the real <c>pulsarish</c> executable: precedence of file, PULSARISH_ environment and flags as
/// <c>config show</c> reports it, start-up validation naming the key, and the deploy/conf samples starting a bookie
/// and a broker against a real ZooKeeper.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class ConfigurationTests
{
    private TempDir _dir = null!;

    [SetUp]
    public void SetUp() => _dir = new TempDir("config");

    [TearDown]
    public void TearDown() => _dir.Dispose();

    [Test]
    public async Task FileIsOverriddenByEnvironmentWhichIsOverriddenByFlags()
    {
        string file = WriteConfig("""
            {
              // JSON with comments, as deploy/conf/*.json
              "Metadata": { "Url": "zk:127.0.0.1:2181" },
              "Broker": { "ManagedLedgerDefaultEnsembleSize": 3, "ManagedLedgerDefaultWriteQuorum": 3, "ManagedLedgerDefaultAckQuorum": 1 },
              "LedgerClient": { "AddTimeout": "00:00:03" }
            }
            """);
        var env = new Dictionary<string, string>
        {
            ["PULSARISH_Broker__ManagedLedgerDefaultAckQuorum"] = "2",
            ["PULSARISH_LedgerClient__AddTimeout"] = "00:00:05",
            ["PULSARISH_Broker__ManagedLedgerMaxEntriesPerLedger"] = "1000",
        };

        var fileOnly = await ShowAsync(null, "--component", "broker", "--config", file);
        Assert.That(fileOnly.GetProperty("Broker").GetProperty("ManagedLedgerDefaultAckQuorum").GetInt32(), Is.EqualTo(1));
        Assert.That(fileOnly.GetProperty("LedgerClient").GetProperty("AddTimeout").GetString(), Is.EqualTo("00:00:03"));
        Assert.That(fileOnly.GetProperty("Broker").GetProperty("ManagedLedgerMaxEntriesPerLedger").GetInt64(), Is.EqualTo(50_000), "default");

        var withEnvironment = await ShowAsync(env, "--component", "broker", "--config", file);
        Assert.That(withEnvironment.GetProperty("Broker").GetProperty("ManagedLedgerDefaultAckQuorum").GetInt32(), Is.EqualTo(2));
        Assert.That(withEnvironment.GetProperty("LedgerClient").GetProperty("AddTimeout").GetString(), Is.EqualTo("00:00:05"));
        Assert.That(withEnvironment.GetProperty("Broker").GetProperty("ManagedLedgerMaxEntriesPerLedger").GetInt64(), Is.EqualTo(1000));

        var withFlags = await ShowAsync(env, "--component", "broker", "--config", file, "--ack-quorum", "3",
            "--set", "LedgerClient:AddTimeout=00:00:07");
        Assert.That(withFlags.GetProperty("Broker").GetProperty("ManagedLedgerDefaultAckQuorum").GetInt32(), Is.EqualTo(3));
        Assert.That(withFlags.GetProperty("LedgerClient").GetProperty("AddTimeout").GetString(), Is.EqualTo("00:00:07"));
        Assert.That(withFlags.GetProperty("Broker").GetProperty("ManagedLedgerMaxEntriesPerLedger").GetInt64(), Is.EqualTo(1000),
            "a key no flag names keeps the environment's value");
        Assert.That(withFlags.GetProperty("Metadata").GetProperty("Url").GetString(), Is.EqualTo("zk:127.0.0.1:2181"));
    }

    [Test]
    public async Task AckQuorumOutOfRangeRefusesToStartNamingTheKey()
    {
        string zero = WriteConfig("""{ "Metadata": { "Url": "zk:127.0.0.1:1" }, "Broker": { "ManagedLedgerDefaultAckQuorum": 0 } }""");
        var (code, output, error) = await PulsarishCli.RunSeparatelyAsync("broker", "--config", zero, "--port", "0");
        Assert.That(code, Is.EqualTo(1), output + error);
        Assert.That(error, Does.Contain("error: InvalidConfiguration: Broker:ManagedLedgerDefaultAckQuorum must be between 1 and 1024, was 0"));
        Assert.That(error, Does.Not.Contain("   at "), "no stack trace");
        Assert.That(output, Does.Not.Contain("broker ready"));

        // Qa > Qw, from the environment this time.
        string valid = WriteConfig("""{ "Metadata": { "Url": "zk:127.0.0.1:1" } }""");
        (code, output, error) = await PulsarishCli.RunSeparatelyAsync(
            new Dictionary<string, string> { ["PULSARISH_Broker__ManagedLedgerDefaultAckQuorum"] = "3" },
            "broker", "--config", valid, "--port", "0");
        Assert.That(code, Is.EqualTo(1), output + error);
        Assert.That(error.Trim(), Is.EqualTo("error: InvalidConfiguration: Broker:ManagedLedgerDefaultAckQuorum must be between 1 and " +
            "Broker:ManagedLedgerDefaultWriteQuorum (2), was 3"));
    }

    [Test]
    public async Task ValuesThatDoNotConvertAndUnknownKeysAreReportedByKey()
    {
        string file = WriteConfig("""{ "Metadata": { "Url": "zk:127.0.0.1:1" }, "Broker": { "NoSuchKey": 1 }, "LedgerClient": { "AddTimeout": "5s" } }""");
        var (code, output, error) = await PulsarishCli.RunSeparatelyAsync("broker", "--config", file, "--port", "0");
        Assert.That(code, Is.EqualTo(1), output + error);
        Assert.That(error, Does.Contain("warning: unknown configuration key 'Broker:NoSuchKey' ignored"));
        Assert.That(error, Does.Contain("error: InvalidConfiguration: LedgerClient:AddTimeout must be a TimeSpan ([d.]hh:mm:ss[.fff]), was '5s'"));
    }

    [Test]
    public async Task BookieAndBrokerStartFromTheSampleConfigFiles()
    {
        await using var zk = await ZooKeeperServer.StartAsync();
        string metadataUrl = $"zk:127.0.0.1:{zk.ClientPort}";
        var bookieEnv = new Dictionary<string, string>
        {
            // What cannot be shared in a file: this machine's metadata URL, a free port and private directories.
            ["PULSARISH_Metadata__Url"] = metadataUrl,
            ["PULSARISH_Bookie__Port"] = FreePort.Next().ToString(CultureInfo.InvariantCulture),
            ["PULSARISH_Bookie__MetricsPort"] = "0",
            ["PULSARISH_Bookie__JournalDir"] = _dir.Sub("journal"),
            ["PULSARISH_Bookie__LedgersDir"] = _dir.Sub("ledgers"),
            ["PULSARISH_Bookie__IndexDir"] = _dir.Sub("index"),
        };
        var (bookie, bookieOutput) = await PulsarishCli.StartAsync("bookie ready", bookieEnv, "bookie", "--config", SampleConfig("bookie.json"));
        try
        {
            var brokerEnv = new Dictionary<string, string>
            {
                ["PULSARISH_Metadata__Url"] = metadataUrl,
                ["PULSARISH_BrokerServer__Port"] = FreePort.Next().ToString(CultureInfo.InvariantCulture),
                ["PULSARISH_BrokerServer__MetricsPort"] = "0",
            };
            var (broker, brokerOutput) = await PulsarishCli.StartAsync("broker ready", brokerEnv, "broker", "--config", SampleConfig("broker.json"));
            try
            {
                lock (bookieOutput) Assert.That(bookieOutput.ToString(), Does.Not.Contain("unknown configuration key"));
                lock (brokerOutput) Assert.That(brokerOutput.ToString(), Does.Not.Contain("unknown configuration key"));
                var registered = await PulsarishCli.RunSeparatelyAsync(
                    new Dictionary<string, string> { ["PULSARISH_Metadata__Url"] = metadataUrl },
                    "config", "show", "--component", "broker", "--config", SampleConfig("broker.json"));
                Assert.That(registered.Code, Is.EqualTo(0), registered.Error);
            }
            finally
            {
                await PulsarishCli.KillAsync(broker);
            }
        }
        finally
        {
            await PulsarishCli.KillAsync(bookie);
        }
    }

    [TestCase("broker", "Broker:AdvertisedAddress", "Ownership:BrokerId", "Ownership:AdvertisedAddress", "Ownership:BundlesPerNamespace")]
    [TestCase("bookie", "Storage:JournalDir", "Storage:LedgersDir", "Storage:IndexDir", "Storage:MaxGroupWait", "Storage:MaxGroupBytes",
        "Storage:DirectWrites", "Storage:MaxEntryBytes", "Storage:WriteCacheMaxBytes", "Storage:AcceptJournalCorruption",
        "Storage:MinorCompactionInterval", "Storage:MajorCompactionInterval", "Registration:MetadataUrl", "Registration:SessionTimeout")]
    public async Task SampleFileListsEveryKeyOfItsComponentWithItsDefault(string component, params string[] derived)
    {
        string path = SampleConfig(component + ".json");
        // Defaults, plus what a sample sets because it has no default: the metadata URL and the bookie's directories.
        string[] required = component == "bookie"
            ? ["--journal-dir", "/j", "--ledgers-dir", "/l", "--index-dir", "/i"]
            : ["--metadata-url", "zk:127.0.0.1:2181"];
        var effective = await ShowAsync(null, ["--component", component, .. required]);
        using var sample = JsonDocument.Parse(File.ReadAllText(path),
            new JsonDocumentOptions { CommentHandling = JsonCommentHandling.Skip, AllowTrailingCommas = true });
        string text = File.ReadAllText(path);
        foreach (var section in effective.EnumerateObject())
        {
            foreach (var key in section.Value.EnumerateObject())
            {
                string name = $"{section.Name}:{key.Name}";
                if (derived.Contains(name))
                {
                    continue;
                }

                if (key.Value.ValueKind == JsonValueKind.Null)
                {
                    // Unset by default: shown commented out with an example value.
                    Assert.That(text, Does.Contain($"// \"{key.Name}\":"), name);
                    continue;
                }

                JsonElement value = default;
                Assert.That(sample.RootElement.TryGetProperty(section.Name, out var sampleSection)
                    && sampleSection.TryGetProperty(key.Name, out value), Is.True, $"{name} missing from {path}");
                bool machineSpecific = name is "Metadata:Url" or "Bookie:JournalDir" or "Bookie:LedgersDir" or "Bookie:IndexDir";
                if (!machineSpecific)
                {
                    Assert.That(value.ToString(), Is.EqualTo(key.Value.ToString()), $"{name}: the sample shows the default");
                }
            }
        }
    }

    [Test]
    public void ConfigShowMasksSecrets()
    {
        string json = EffectiveConfiguration.ToJson([new OptionsSection("Auth", new SecretOptions())]);
        var auth = JsonDocument.Parse(json).RootElement.GetProperty("Auth");
        Assert.Multiple(() =>
        {
            Assert.That(auth.GetProperty("AdminPassword").GetString(), Is.EqualTo("***"));
            Assert.That(auth.GetProperty("ClientSecret").GetString(), Is.EqualTo("***"));
            Assert.That(auth.GetProperty("BrokerToken").GetString(), Is.EqualTo("***"));
            Assert.That(auth.GetProperty("PrivateKey").GetString(), Is.EqualTo("***"));
            Assert.That(auth.GetProperty("KeySharedReplicaPoints").GetInt32(), Is.EqualTo(100), "a key name that only starts with Key is no secret");
            Assert.That(auth.GetProperty("Url").GetString(), Is.EqualTo("zk:host:2181"));
        });
        Assert.That(json, Does.Not.Contain("hunter2").And.Not.Contain("s3cr3t").And.Not.Contain("BEGIN"));
    }

    [Test]
    public async Task ConfigShowPrintsEveryComponentsSections()
    {
        var broker = await ShowAsync(null, "--component", "broker", "--metadata-url", "zk:127.0.0.1:2181");
        Assert.That(broker.EnumerateObject().Select(p => p.Name),
            Is.EqualTo(new[] { "Metadata", "Broker", "BrokerServer", "Ownership", "LedgerClient" }));
        var bookie = await ShowAsync(null, "--component", "bookie", "--journal-dir", "/j", "--ledgers-dir", "/l", "--index-dir", "/i");
        Assert.That(bookie.EnumerateObject().Select(p => p.Name),
            Is.EqualTo(new[] { "Metadata", "Bookie", "Storage", "Registration", "AutoRecovery", "LedgerClient" }));
        Assert.That(bookie.GetProperty("Storage").GetProperty("JournalDir").GetString(), Is.EqualTo("/j"), "Storage follows the Bookie section");
        var standalone = await ShowAsync(null, "--component", "standalone");
        Assert.That(standalone.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "Standalone", "Broker", "LedgerClient" }));
        var autorecovery = await ShowAsync(null, "--component", "autorecovery", "--metadata-url", "zk:127.0.0.1:2181");
        Assert.That(autorecovery.EnumerateObject().Select(p => p.Name), Is.EqualTo(new[] { "Metadata", "AutoRecovery", "LedgerClient" }));
    }

    private string WriteConfig(string json)
    {
        string path = Path.Combine(_dir.Path, $"config-{Guid.NewGuid():N}.json");
        File.WriteAllText(path, json);
        return path;
    }

    private static async Task<JsonElement> ShowAsync(IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var (code, output, error) = await PulsarishCli.RunSeparatelyAsync(environment, ["config", "show", .. args]);
        Assert.That(code, Is.EqualTo(0), error);
        return JsonDocument.Parse(output).RootElement.Clone();
    }

    /// <summary>deploy/conf/NAME of this checkout.</summary>
    private static string SampleConfig(string name)
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "deploy", "conf", name);
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        throw new FileNotFoundException($"deploy/conf/{name} not found above {AppContext.BaseDirectory}");
    }

    private sealed class SecretOptions
    {
        public string AdminPassword { get; set; } = "hunter2";
        public string ClientSecret { get; set; } = "s3cr3t";
        public string BrokerToken { get; set; } = "eyJhbGciOi";
        public string PrivateKey { get; set; } = "-----BEGIN KEY-----";
        public int KeySharedReplicaPoints { get; set; } = 100;
        public string Url { get; set; } = "zk:host:2181";
    }
}
