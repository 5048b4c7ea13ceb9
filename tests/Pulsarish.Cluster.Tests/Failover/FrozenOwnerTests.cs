using System.Diagnostics;
using Pulsarish.Client;
using Pulsarish.Cluster.Tests.Supervisor;
using Pulsarish.TestKit;

namespace Pulsarish.Cluster.Tests.Failover;

/// <summary>
/// DESIGN.md §4 and §7, a stop-the-world pause of the owner: a supervised cluster (3 bookies, broker-1) on a test
/// ZooKeeper plus an unsupervised broker process (broker-a, so no supervisor heartbeat check kills it while frozen)
/// owning a few topics. broker-a is frozen with SIGSTOP for longer than its session timeout, broker-1 takes the
/// topics over (fencing broker-a's ledgers) and accepts writes, then broker-a is resumed with SIGCONT while clients
/// still hold streams to it.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class FrozenOwnerTests
{
    private const int Topics = 3;
    private const string StopLine = "stops serving every topic";
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);

    [Test]
    [CancelAfter(120_000)]
    public async Task FrozenOwnerGetsNoWriteAcknowledgedAfterTheTakeover()
    {
        await using var zk = await ZooKeeperServer.StartAsync();
        await using var cluster = await ClusterProcess.StartAsync(bookies: 3, brokers: 1, "--zookeeper", zk.ConnectString);
        string brokerB = cluster.Status()!.Brokers.Single();
        await using var brokerA = await BrokerProcess.StartAsync("broker-a", zk.ClientPort);
        var producers = new List<TaggedProducer>();
        try
        {
            await using var lookupClient = NewClient(brokerB, brokerA.Address);
            await using var directClient = NewClient(brokerA.Address);
            await using var clientOfB = NewClient(brokerB);

            var topics = new List<string>();
            for (int i = 0; i < 40 && topics.Count < Topics; i++)
            {
                string candidate = $"persistent://public/default/frozen-{i}";
                if (await lookupClient.LookupAsync(candidate) == brokerA.Address) topics.Add(candidate);
            }
            Assert.That(topics, Has.Count.EqualTo(Topics), "broker-a owns the test topics");

            foreach (var (topic, i) in topics.Select((t, i) => (t, i)))
            {
                producers.Add(await TaggedProducer.StartAsync(lookupClient, topic, $"lookup-{i}"));
                producers.Add(await TaggedProducer.StartAsync(directClient, topic, $"direct-{i}"));
            }
            await WaitUntilAsync(() => producers.All(p => !p.Acked.IsEmpty), "every producer acknowledged through broker-a");
            await Task.Delay(TimeSpan.FromSeconds(1));

            brokerA.Freeze();
            var clock = Stopwatch.StartNew();
            TestContext.Progress.WriteLine($"froze broker-a (pid {brokerA.Pid})");
            try
            {
                foreach (var topic in topics)
                    await WaitUntilAsync(async () => await TaggedProducer.LookupOnAsync(brokerB, topic) == brokerB,
                        $"broker-1 names itself owner of {topic}");
                TestContext.Progress.WriteLine($"broker-1 answers for every topic at {clock.ElapsedMilliseconds} ms");

                // Writes through broker-1 while broker-a is still frozen: broker-1 must fence and recover first.
                var producersOfB = new List<TaggedProducer>();
                foreach (var (topic, i) in topics.Select((t, i) => (t, i)))
                    producersOfB.Add(await TaggedProducer.StartAsync(clientOfB, topic, $"takeover-{i}"));
                producers.AddRange(producersOfB);
                await WaitUntilAsync(() => producersOfB.All(p => !p.Acked.IsEmpty), "broker-1 acknowledges writes on every topic");
                TestContext.Progress.WriteLine($"broker-1 acknowledged writes on every topic at {clock.ElapsedMilliseconds} ms");
                // Frozen well beyond the 3 s session timeout; broker-1 keeps taking writes meanwhile.
                var frozenFor = TimeSpan.FromSeconds(8);
                if (clock.Elapsed < frozenFor) await Task.Delay(frozenFor - clock.Elapsed);
            }
            finally
            {
                brokerA.Resume();
            }
            long resumedAtMs = clock.ElapsedMilliseconds;
            TestContext.Progress.WriteLine($"resumed broker-a at {resumedAtMs} ms");

            foreach (var topic in topics)
                await WaitUntilAsync(async () => await TaggedProducer.LookupOnAsync(brokerA.Address, topic) == brokerB,
                    $"resumed broker-a redirects {topic} to broker-1");
            Assert.That(brokerA.LineSeenAtMs(StopLine, clock), Is.Not.Null, "broker-a stopped serving once resumed");

            // The producers that were stuck on broker-a move to broker-1 (lookup or redirect) and get acknowledged there.
            var ackedAtResume = producers.ToDictionary(p => p.Name, p => p.Acked.Count);
            await WaitUntilAsync(() => producers.All(p => p.Acked.Count > ackedAtResume[p.Name] + 5),
                "every producer is acknowledged again after broker-a resumed");

            foreach (var p in producers) await p.StopAsync(TimeSpan.FromSeconds(60));
            TestContext.Progress.WriteLine(
                $"acknowledged {producers.Sum(p => p.Acked.Count)} messages, {producers.Sum(p => p.Failures)} sends failed");

            int duplicates = 0;
            foreach (var topic in topics)
                duplicates += await TaggedProducer.VerifyTopicAsync(clientOfB, topic, producers.Where(p => p.Topic == topic).ToList());
            TestContext.Progress.WriteLine($"every acknowledged message read back from broker-1 in producer order; {duplicates} duplicates");
        }
        catch
        {
            TestContext.Progress.WriteLine("broker-a output:\n" + brokerA.Output);
            throw;
        }
    }

    private static PulsarishClient NewClient(params string[] serviceUrls) => new(new PulsarishClientOptions
    {
        ServiceUrls = serviceUrls, MaxReconnectDelay = TimeSpan.FromSeconds(1), OperationTimeout = TimeSpan.FromSeconds(20),
    });

    private static Task WaitUntilAsync(Func<bool> condition, string what) => WaitUntilAsync(() => Task.FromResult(condition()), what);

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        await Eventually.That(condition, Patience, $"waiting until {what}", TimeSpan.FromMilliseconds(100));
    }
}
