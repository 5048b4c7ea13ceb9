using System.Text;
using System.Text.Json;
using Pulsarish.Client;
using Pulsarish.Cluster.Tests.Supervisor;

namespace Pulsarish.Cluster.Tests.Admin;

/// <summary>
/// <c>pulsarish admin …</c> (run in-process, output captured) against a cluster of one ZooKeeper, three bookie and
/// two broker processes.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class AdminCommandsTests
{
    private ClusterProcess? _cluster;
    private string _serviceUrl = "";

    [OneTimeSetUp]
    public async Task StartCluster()
    {
        _cluster = await ClusterProcess.StartAsync(bookies: 3, brokers: 2);
        _serviceUrl = string.Join(',', _cluster.Status()!.Brokers);
    }

    [OneTimeTearDown]
    public async Task StopCluster()
    {
        if (_cluster is not null) await _cluster.DisposeAsync();
    }

    [Test]
    public async Task TenantsNamespacesAndPoliciesRoundTripAndErrorsExitNonZero()
    {
        Assert.That((await AdminAsync("tenants", "create", "acme")).Code, Is.Zero);
        var again = await AdminAsync("tenants", "create", "acme");
        Assert.That(again.Code, Is.EqualTo(1));
        Assert.That(again.Error, Does.StartWith("error: NotAllowed:"));
        Assert.That((await AdminAsync("tenants", "create", "acme", "--if-not-exists")).Code, Is.Zero);
        Assert.That(Json<string[]>((await AdminAsync("tenants", "list", "--output", "json")).Output), Does.Contain("acme").And.Contain("public"));

        Assert.That((await AdminAsync("namespaces", "create", "acme/ns")).Code, Is.Zero);
        Assert.That((await AdminAsync("namespaces", "list", "acme")).Output.Trim(), Is.EqualTo("acme/ns"));
        Assert.That((await AdminAsync("namespaces", "set-persistence", "acme/ns", "-e", "3", "-w", "3", "-a", "2")).Code, Is.Zero);
        Assert.That((await AdminAsync("namespaces", "set-retention", "acme/ns", "--time-minutes", "60", "--size-mb", "10")).Code, Is.Zero);
        Assert.That((await AdminAsync("namespaces", "set-ttl", "acme/ns", "--seconds", "120")).Code, Is.Zero);
        Assert.That((await AdminAsync("namespaces", "set-max-message-size", "acme/ns", "--bytes", "65536")).Code, Is.Zero);
        var bad = await AdminAsync("namespaces", "set-persistence", "acme/ns", "-e", "1", "-w", "2", "-a", "2");
        Assert.That(bad.Code, Is.Not.Zero, "E < Qw is refused");

        using var policies = JsonDocument.Parse((await AdminAsync("namespaces", "policies", "acme/ns", "--output", "json")).Output);
        var root = policies.RootElement;
        Assert.That(root.GetProperty("ensembleSize").GetInt32(), Is.EqualTo(3));
        Assert.That(root.GetProperty("writeQuorum").GetInt32(), Is.EqualTo(3));
        Assert.That(root.GetProperty("ackQuorum").GetInt32(), Is.EqualTo(2));
        Assert.That(root.GetProperty("retentionSizeBytes").GetString(), Is.EqualTo((10 * 1024 * 1024).ToString()));
        Assert.That(root.GetProperty("messageTtlSeconds").GetString(), Is.EqualTo("120"));
        Assert.That(root.GetProperty("maxMessageSizeBytes").GetInt32(), Is.EqualTo(65536));
        Assert.That((await AdminAsync("namespaces", "get-ttl", "acme/ns")).Output.Trim(), Is.EqualTo("messageTtlSeconds: 120"));

        Assert.That((await AdminAsync("namespaces", "delete", "acme/ns")).Code, Is.Zero);
        Assert.That((await AdminAsync("tenants", "delete", "acme")).Code, Is.Zero);
        var missing = await AdminAsync("namespaces", "list", "acme");
        Assert.That(missing.Code, Is.EqualTo(1));
        Assert.That(missing.Error, Does.StartWith("error: TenantNotFound:"));
    }

    [Test]
    public async Task TopicAndSubscriptionCommandsReachTheOwnerAndBrokersAreListed()
    {
        const string topic = "persistent://public/default/admin-orders";
        Assert.That((await AdminAsync("topics", "create", topic)).Code, Is.Zero);
        Assert.That((await AdminAsync("topics", "create-partitioned", "persistent://public/default/admin-parts", "-p", "3")).Code, Is.Zero);
        Assert.That((await AdminAsync("topics", "list", "public/default")).Output, Does.Contain(topic));

        await using (var client = new PulsarishClient(_serviceUrl.Split(',')))
        await using (var producer = await client.CreateProducerAsync(new ProducerOptions { Topic = topic, BatchingEnabled = false }))
        {
            for (int i = 0; i < 5; i++) await producer.SendAsync(Encoding.UTF8.GetBytes($"m{i}"));
        }

        Assert.That((await AdminAsync("subscriptions", "create", topic, "-s", "audit", "--earliest")).Code, Is.Zero);
        Assert.That((await AdminAsync("subscriptions", "list", topic)).Output.Trim(), Is.EqualTo("audit"));
        Assert.That(Json<JsonElement>((await AdminAsync("subscriptions", "skip", topic, "-s", "audit", "-n", "2", "--output", "json")).Output)
            .GetProperty("skipped").GetInt64(), Is.EqualTo(2));
        using (var stats = JsonDocument.Parse((await AdminAsync("topics", "stats", topic)).Output))
        {
            Assert.That(stats.RootElement.GetProperty("messagesInTotal").GetInt64(), Is.EqualTo(5));
            var audit = stats.RootElement.GetProperty("subscriptions").EnumerateArray().Single();
            Assert.That(audit.GetProperty("backlogEntries").GetInt64(), Is.EqualTo(3));
        }
        Assert.That((await AdminAsync("subscriptions", "reset-cursor", topic, "-s", "audit", "--time", "0")).Code, Is.Zero);
        using (var stats = JsonDocument.Parse((await AdminAsync("topics", "stats", topic)).Output))
            Assert.That(stats.RootElement.GetProperty("subscriptions")[0].GetProperty("backlogEntries").GetInt64(), Is.EqualTo(5));
        using (var internals = JsonDocument.Parse((await AdminAsync("topics", "internal-stats", topic)).Output))
            Assert.That(internals.RootElement.GetProperty("entries").GetInt64(), Is.EqualTo(5));

        var brokers = (await AdminAsync("brokers", "list")).Output.Split('\n', StringSplitOptions.RemoveEmptyEntries);
        Assert.That(brokers.Select(b => b.Split('\t')[0]), Is.EquivalentTo(new[] { "broker-1", "broker-2" }));

        Assert.That((await AdminAsync("subscriptions", "delete", topic, "-s", "audit")).Code, Is.Zero);
        Assert.That((await AdminAsync("topics", "unload", topic)).Code, Is.Zero);
        Assert.That((await AdminAsync("topics", "delete", topic)).Code, Is.Zero);
        Assert.That((await AdminAsync("topics", "list", "public/default")).Output, Does.Not.Contain(topic));
        var gone = await AdminAsync("topics", "stats", topic);
        Assert.That(gone.Code, Is.EqualTo(1));
        Assert.That(gone.Error, Does.StartWith("error: TopicNotFound:"));
    }

    private async Task<(int Code, string Output, string Error)> AdminAsync(params string[] args)
    {
        var (code, output, error) = await PulsarishCli.RunSeparatelyAsync(["admin", "--service-url", _serviceUrl, .. args]);
        TestContext.Progress.WriteLine($"admin {string.Join(' ', args)} -> {code} {error.ToString().Trim()}");
        return (code, output.ToString(), error.ToString());
    }

    private static T Json<T>(string text) => JsonSerializer.Deserialize<T>(text)!;
}
