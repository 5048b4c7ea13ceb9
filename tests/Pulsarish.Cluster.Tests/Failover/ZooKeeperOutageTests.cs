using System.Diagnostics;
using Pulsarish.Broker.Ownership;
using Pulsarish.Client;
using Pulsarish.Cluster.Tests.Supervisor;
using Pulsarish.Metadata;
using Pulsarish.Metadata.ZooKeeper;
using Pulsarish.TestKit;

namespace Pulsarish.Cluster.Tests.Failover;

/// <summary>
/// DESIGN.md §7, the metadata store itself fails: a supervised cluster (3 bookies, 2 brokers) on a test ZooKeeper
/// that is killed (SIGKILL, by PID) for longer than the 3 s session timeout while producers run, then restarted on
/// the same port and data directory.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class ZooKeeperOutageTests
{
    private const int Topics = 4;
    private static readonly TimeSpan SessionTimeout = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(45);

    [Test]
    [CancelAfter(150_000)]
    public async Task ZooKeeperOutageLongerThanTheSessionTimeoutStopsBrokersAndTheClusterRecovers()
    {
        await using var zk = await ZooKeeperServer.StartAsync();
        await using var cluster = await ClusterProcess.StartAsync(bookies: 3, brokers: 2, "--zookeeper", zk.ConnectString);
        var status = cluster.Status()!;
        var brokerIds = status.Members.Where(m => m.Role == "broker").Select(m => m.Name).ToList();
        var producers = new List<TaggedProducer>();
        try
        {
            await using var client = new PulsarishClient(new PulsarishClientOptions
            {
                ServiceUrls = status.Brokers.ToArray(), MaxReconnectDelay = TimeSpan.FromSeconds(1),
                OperationTimeout = TimeSpan.FromSeconds(20),
            });
            var topics = Enumerable.Range(0, Topics).Select(i => $"persistent://public/default/zk-outage-{i}").ToArray();
            foreach (var (topic, i) in topics.Select((t, i) => (t, i)))
                producers.Add(await TaggedProducer.StartAsync(client, topic, $"p-{i}"));
            await WaitUntilAsync(() => producers.All(p => !p.Acked.IsEmpty), "every producer acknowledged");
            await Task.Delay(TimeSpan.FromSeconds(1));
            IReadOnlyList<string> bookieIds;
            var sessionsBefore = new HashSet<long>();
            await using (var observer = await ConnectObserverAsync(zk))
            {
                bookieIds = await observer.GetChildrenAsync(MetadataPaths.AvailableBookies);
                Assert.That(bookieIds, Has.Count.EqualTo(3), "every bookie registered");
                foreach (string path in EphemeralPaths(brokerIds, bookieIds, topics).Append(await AuditorPathAsync(observer)))
                    if (await observer.GetAsync(path) is { } record) sessionsBefore.Add(record.Stat.EphemeralOwner);
            }

            await zk.StopAsync();
            var clock = Stopwatch.StartNew();
            TestContext.Progress.WriteLine("ZooKeeper killed");
            try
            {
                // Past the session timeout no broker may acknowledge anything: none can know it still owns a topic.
                await Task.Delay(SessionTimeout + TimeSpan.FromSeconds(2));
                var ackedWhileDown = producers.ToDictionary(p => p.Name, p => p.Acked.Count);
                await Task.Delay(TimeSpan.FromSeconds(3));
                foreach (var p in producers)
                    Assert.That(p.Acked.Count, Is.EqualTo(ackedWhileDown[p.Name]),
                        $"{p.Name} got acknowledgements while ZooKeeper was down for {clock.Elapsed.TotalSeconds:F1} s");
            }
            finally
            {
                await zk.RestartAsync();
            }
            TestContext.Progress.WriteLine($"ZooKeeper restarted after {clock.ElapsedMilliseconds} ms");

            var ackedAtRestart = producers.ToDictionary(p => p.Name, p => p.Acked.Count);
            await WaitUntilAsync(() => producers.All(p => p.Acked.Count > ackedAtRestart[p.Name] + 5),
                "every producer is acknowledged again after ZooKeeper came back");
            TestContext.Progress.WriteLine($"every producer acknowledged again at {clock.ElapsedMilliseconds} ms");

            await using (var observer = await ConnectObserverAsync(zk))
            {
                // Every broker and bookie registration, bundle ownership and the auditor's candidacy exists again under
                // a session opened after the outage — and still exists once the restarted server has expired the old
                // sessions (DESIGN §9).
                var paths = EphemeralPaths(brokerIds, bookieIds, topics);
                await WaitUntilAsync(async () => await observer.GetAsync(await AuditorPathAsync(observer)) is { } r
                                                 && !sessionsBefore.Contains(r.Stat.EphemeralOwner),
                    "the auditor's candidacy is created again under a new session");
                paths.Add(await AuditorPathAsync(observer));
                foreach (string path in paths)
                    await WaitUntilAsync(async () => await observer.GetAsync(path) is { } r && !sessionsBefore.Contains(r.Stat.EphemeralOwner),
                        $"{path} is created again under a new session");
                var owners = new Dictionary<string, long>();
                foreach (string path in paths) owners[path] = (await observer.GetAsync(path))!.Stat.EphemeralOwner;
                await Task.Delay(2 * SessionTimeout + TimeSpan.FromSeconds(2));
                foreach (string path in paths)
                    Assert.That((await observer.GetAsync(path))?.Stat.EphemeralOwner, Is.EqualTo(owners[path]),
                        $"{path} outlives the sessions that expired with the outage");
            }
            Assert.That(cluster.SupervisorExited, Is.False, "the supervisor kept running");

            await Task.Delay(TimeSpan.FromSeconds(1));
            foreach (var p in producers) await p.StopAsync(TimeSpan.FromSeconds(60));
            TestContext.Progress.WriteLine(
                $"acknowledged {producers.Sum(p => p.Acked.Count)} messages, {producers.Sum(p => p.Failures)} sends failed");

            int duplicates = 0;
            foreach (var topic in topics)
                duplicates += await TaggedProducer.VerifyTopicAsync(client, topic, producers.Where(p => p.Topic == topic).ToList());
            TestContext.Progress.WriteLine($"every acknowledged message consumed in producer order; {duplicates} duplicates");
        }
        catch
        {
            TestContext.Progress.WriteLine("cluster output:\n" + cluster.Output);
            TestContext.Progress.WriteLine("acknowledged per producer: "
                                           + string.Join(", ", producers.Select(p => $"{p.Name}={p.Acked.Count} ({p.Failures} failed)")));
            foreach (var member in cluster.Status()!.Members.Where(m => m.Role != "zookeeper" && File.Exists(m.LogFile)))
            {
                var lines = File.ReadAllLines(member.LogFile)
                    .Where(l => !l.Contains("heartbeat", StringComparison.Ordinal) && !l.Contains("Connecting to ZooKeeper", StringComparison.Ordinal))
                    .TakeLast(80);
                TestContext.Progress.WriteLine($"--- {member.Name} ({member.Restarts} restarts), {member.LogFile}:\n" + string.Join('\n', lines));
            }
            throw;
        }
    }

    private static Task<ZooKeeperMetadataStore> ConnectObserverAsync(ZooKeeperServer zk) =>
        ZooKeeperMetadataStore.ConnectAsync(new ZooKeeperClientOptions { ConnectString = zk.ConnectString, SessionTimeout = TimeSpan.FromSeconds(10) });

    /// <summary>The auditor's candidacy: the lowest under /ledgers/auditor.</summary>
    private static async Task<string> AuditorPathAsync(IMetadataStore observer)
    {
        var candidates = (await observer.GetChildrenAsync(MetadataPaths.Auditor)).Order(StringComparer.Ordinal).ToList();
        return MetadataPaths.Auditor + "/" + (candidates.Count > 0 ? candidates[0] : "none");
    }

    /// <summary>The ephemeral records the cluster must hold: registrations, the topics' bundle ownerships, the auditor's candidacy.</summary>
    private static List<string> EphemeralPaths(IEnumerable<string> brokerIds, IEnumerable<string> bookieIds, IEnumerable<string> topics)
    {
        var bundles = new NamespaceBundles(OwnershipOptions.DefaultBundlesPerNamespace);
        var paths = brokerIds.Select(OwnershipPaths.Broker).Concat(bookieIds.Select(MetadataPaths.AvailableBookie))
            .Concat(topics.Select(t => bundles.Find(t).Path)).Distinct().ToList();
        return paths;
    }

    private static Task WaitUntilAsync(Func<bool> condition, string what) => WaitUntilAsync(() => Task.FromResult(condition()), what);

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        await Eventually.That(condition, Patience, $"waiting until {what}", TimeSpan.FromMilliseconds(100));
    }
}
