using System.Diagnostics;
using Pulsarish.Client;
using Pulsarish.Cluster.Tests.Supervisor;
using Pulsarish.TestKit;

namespace Pulsarish.Cluster.Tests.Failover;

/// <summary>
/// DESIGN.md §7, planned moves: two unsupervised broker processes with a long (30 s) ZooKeeper session timeout on a
/// test ZooKeeper, 3 supervised bookies, producers on topics owned by broker-a. A namespace unload and then a
/// graceful stop (SIGTERM) of the broker that owns them afterwards must hand the bundles over at once — far sooner
/// than the session timeout, which is what a crashed broker's topics would have to wait for.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class GracefulHandoverTests
{
    private const int Topics = 3;
    private const int SessionTimeoutMs = 30_000;
    private const string Namespace = "public/default";

    /// <summary>
    /// A TaggedProducer has at most this many sends outstanding, so at most this many acknowledgements from before
    /// a topic closed can still be on their way; one more proves a write acknowledged by the topic's next owner.
    /// </summary>
    private const int InFlightAcks = 20;
    private static readonly TimeSpan HandoverBound = TimeSpan.FromSeconds(10);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Test]
    [CancelAfter(120_000)]
    public async Task GracefulShutdownAndNamespaceUnloadHandBundlesOverWithoutWaitingForSessionExpiry()
    {
        await using var zk = await ZooKeeperServer.StartAsync();
        await using var bookies = await ClusterProcess.StartAsync(bookies: 3, brokers: 0, "--zookeeper", zk.ConnectString);
        await using var brokerA = await BrokerProcess.StartAsync("broker-a", zk.ClientPort, SessionTimeoutMs);
        await using var brokerB = await BrokerProcess.StartAsync("broker-b", zk.ClientPort, SessionTimeoutMs);
        var producers = new List<TaggedProducer>();
        try
        {
            string connections = await zk.FourLetterWordAsync("cons") ?? "";
            int longSessions = connections.Split('\n').Count(l => l.Contains($"to={SessionTimeoutMs},", StringComparison.Ordinal));
            Assert.That(longSessions, Is.GreaterThanOrEqualTo(2), $"both brokers negotiated a {SessionTimeoutMs} ms session:\n{connections}");

            await using var client = NewClient(brokerA.Address, brokerB.Address);
            var topics = new List<string>();
            for (int i = 0; i < 40 && topics.Count < Topics; i++)
            {
                string candidate = $"persistent://public/default/handover-{i}";
                if (await client.LookupAsync(candidate) == brokerA.Address) topics.Add(candidate);
            }
            Assert.That(topics, Has.Count.EqualTo(Topics), "broker-a owns the test topics");
            foreach (var (topic, i) in topics.Select((t, i) => (t, i)))
                producers.Add(await TaggedProducer.StartAsync(client, topic, $"p-{i}"));
            await WaitUntilAsync(() => producers.All(p => p.Acked.Count > 10), "every producer acknowledged through broker-a");

            // Part 1: namespace unload. broker-a closes the topics and deletes its ownership records; the clients
            // look the topics up again and a broker acquires them without any session having to expire.
            var clock = Stopwatch.StartNew();
            var (code, output, error) = await AdminAsync($"{brokerA.Address},{brokerB.Address}", "namespaces", "unload", Namespace);
            Assert.That(code, Is.Zero, $"namespaces unload: {error}");
            Assert.That(output.Trim(), Is.Not.Empty, "the unload released at least one bundle");
            foreach (var topic in topics)
                await WaitUntilAsync(() => brokerA.LineSeenAtMs("Unloaded topic " + topic, clock) is not null, $"broker-a unloaded {topic}");
            var ackedAfterUnload = producers.ToDictionary(p => p.Name, p => p.Acked.Count);
            var resumedAtMs = await WaitForEveryProducerAsync(producers, ackedAfterUnload, clock, "after the namespace unload");
            TestContext.Progress.WriteLine("first acknowledgement after the unload (ms): "
                                           + string.Join(", ", resumedAtMs.Select(kv => $"{kv.Key}={kv.Value}")));
            Assert.That(resumedAtMs.Values, Has.All.LessThan(HandoverBound.TotalMilliseconds),
                "every topic was re-acquired and acknowledged well within the session timeout after the unload");

            // Part 2: graceful stop of an owner. Every producer must be acknowledged again within the bound, far
            // below the 30 s session timeout, so the stopped broker must have released its bundles rather than left
            // them to expire. After the unload the less loaded broker took the topics (both report their message
            // rates), so stop whichever broker owns test topics now.
            var owners = new Dictionary<string, string>();
            foreach (var topic in topics) owners[topic] = await client.LookupAsync(topic);
            TestContext.Progress.WriteLine($"owners before SIGTERM: {string.Join(", ", owners.Select(o => $"{o.Key[^2..]}={o.Value}"))}");
            var (victim, survivor) = owners.Values.Contains(brokerA.Address) ? (brokerA, brokerB) : (brokerB, brokerA);
            Assert.That(owners.Values, Has.Some.EqualTo(victim.Address), "the broker to stop owns at least one test topic");

            var ackedAtTerm = producers.ToDictionary(p => p.Name, p => p.Acked.Count);
            clock.Restart();
            victim.Terminate();
            TestContext.Progress.WriteLine($"SIGTERM to {victim.Address} (pid {victim.Pid})");
            var exitCode = await victim.WaitForExitAsync(HandoverBound);
            Assert.That(exitCode, Is.Not.Null, "the stopped broker exited by itself after SIGTERM");
            TestContext.Progress.WriteLine($"{victim.Address} exited with {exitCode} after {clock.ElapsedMilliseconds} ms");
            // Past the exit no write on its topics can have been acknowledged by the stopped broker.
            var ackedAtExit = producers.ToDictionary(p => p.Name, p => p.Acked.Count);
            var movedAtMs = await WaitForEveryProducerAsync(producers, ackedAtExit, clock, "after the graceful stop");
            TestContext.Progress.WriteLine("first acknowledgement after the exit (ms since SIGTERM): "
                                           + string.Join(", ", movedAtMs.Select(kv => $"{kv.Key}={kv.Value}")));
            Assert.That(movedAtMs.Values, Has.All.LessThan(HandoverBound.TotalMilliseconds),
                "every producer is acknowledged again well within the session timeout after SIGTERM");
            Assert.That(exitCode, Is.Zero, "the graceful stop succeeded");
            foreach (var topic in topics)
                Assert.That(await TaggedProducer.LookupOnAsync(survivor.Address, topic), Is.EqualTo(survivor.Address), $"the other broker owns {topic}");
            Assert.That(producers.All(p => p.Acked.Count > ackedAtTerm[p.Name]), Is.True);

            foreach (var p in producers) await p.StopAsync(TimeSpan.FromSeconds(30));
            TestContext.Progress.WriteLine(
                $"acknowledged {producers.Sum(p => p.Acked.Count)} messages, {producers.Sum(p => p.Failures)} sends failed");
            int duplicates = 0;
            foreach (var topic in topics)
                duplicates += await TaggedProducer.VerifyTopicAsync(client, topic, producers.Where(p => p.Topic == topic).ToList());
            TestContext.Progress.WriteLine($"every acknowledged message read back in producer order; {duplicates} duplicates");
        }
        catch
        {
            TestContext.Progress.WriteLine("broker-a output:\n" + brokerA.Output);
            TestContext.Progress.WriteLine("broker-b output:\n" + brokerB.Output);
            throw;
        }
    }

    /// <summary>Waits until every producer has more than <see cref="InFlightAcks"/> acknowledgements beyond <paramref name="baseline"/>; returns when (ms on <paramref name="clock"/>).</summary>
    private static async Task<Dictionary<string, long>> WaitForEveryProducerAsync(
        IReadOnlyList<TaggedProducer> producers, Dictionary<string, int> baseline, Stopwatch clock, string what)
    {
        var seenAt = new Dictionary<string, long>();
        bool all = await Eventually.Until(() =>
        {
            foreach (var p in producers)
                if (!seenAt.ContainsKey(p.Name) && p.Acked.Count > baseline[p.Name] + InFlightAcks) seenAt[p.Name] = clock.ElapsedMilliseconds;
            return seenAt.Count >= producers.Count;
        }, Patience);
        if (!all)
            Assert.Fail($"timed out after {Patience.TotalSeconds} s waiting for every producer to be acknowledged {what}; "
                        + $"acknowledged: {string.Join(", ", seenAt.Keys)}");
        return seenAt;
    }

    private static async Task<(int Code, string Output, string Error)> AdminAsync(string serviceUrl, params string[] args)
    {
        var (code, output, error) = await PulsarishCli.RunSeparatelyAsync(["admin", "--service-url", serviceUrl, .. args]);
        TestContext.Progress.WriteLine($"admin {string.Join(' ', args)} -> {code} {output.ToString().Trim()} {error.ToString().Trim()}");
        return (code, output.ToString(), error.ToString());
    }

    private static PulsarishClient NewClient(params string[] serviceUrls) => new(new PulsarishClientOptions
    {
        ServiceUrls = serviceUrls, MaxReconnectDelay = TimeSpan.FromSeconds(1), OperationTimeout = TimeSpan.FromSeconds(20),
    });

    private static Task WaitUntilAsync(Func<bool> condition, string what) => WaitUntilAsync(() => Task.FromResult(condition()), what);

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        await Eventually.That(condition, Patience, $"waiting until {what}", TimeSpan.FromMilliseconds(50));
    }
}
