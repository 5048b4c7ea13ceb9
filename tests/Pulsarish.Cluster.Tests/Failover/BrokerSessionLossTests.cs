using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Pulsarish.Broker.Ownership;
using Pulsarish.Client;
using Pulsarish.Cluster.Tests.Supervisor;
using Pulsarish.Metadata;
using Pulsarish.Metadata.ZooKeeper;
using Pulsarish.TestKit;

namespace Pulsarish.Cluster.Tests.Failover;

/// <summary>
/// DESIGN.md §7, a broker cut off from ZooKeeper: a supervised cluster (3 bookies, broker-1) on a test ZooKeeper, plus
/// a broker process (broker-p) whose ZooKeeper connection runs through a <see cref="FaultProxy"/>.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class BrokerSessionLossTests
{
    private const string StopLine = "stops serving every topic";

    [Test]
    public async Task PartitionedBrokerStopsServingBeforeTheOtherTakesOverAndRejoinsWithoutItsBundles()
    {
        await using var zk = await ZooKeeperServer.StartAsync();
        await using var cluster = await ClusterProcess.StartAsync(bookies: 3, brokers: 1, "--zookeeper", zk.ConnectString);
        string broker1 = cluster.Status()!.Brokers.Single();
        await using var proxy = new FaultProxy(zk.ClientPort);
        await using var partitioned = await BrokerProcess.StartAsync("broker-p", proxy.Port);
        await using var observer = await ZooKeeperMetadataStore.ConnectAsync(new ZooKeeperClientOptions
        {
            ConnectString = zk.ConnectString, SessionTimeout = TimeSpan.FromSeconds(10),
        });

        await using var client = new PulsarishClient(new PulsarishClientOptions
        {
            ServiceUrls = [broker1, partitioned.Address], MaxReconnectDelay = TimeSpan.FromSeconds(1),
            OperationTimeout = TimeSpan.FromSeconds(60),
        });
        string? topic = null;
        for (int i = 0; i < 40 && topic is null; i++)
        {
            string candidate = $"persistent://public/default/partitioned-{i}";
            if (await client.LookupAsync(candidate) == partitioned.Address) topic = candidate;
        }
        Assert.That(topic, Is.Not.Null, "broker-p owns some topic");

        var acked = new ConcurrentQueue<long>();
        await using var producer = await client.CreateProducerAsync(new ProducerOptions { Topic = topic!, ProducerName = "p" });
        using var stop = new CancellationTokenSource();
        var sending = SendLoopAsync(producer, acked, stop.Token);
        await Task.Delay(TimeSpan.FromSeconds(2));

        var clock = Stopwatch.StartNew();
        proxy.Partition();
        long takenOverAtMs = -1;
        await Eventually.Until(async () =>
        {
            // broker-1 answers from its own view; once it names itself it owns the bundle (or is about to acquire it).
            if (await LookupOnAsync(broker1, topic!) == broker1)
            {
                takenOverAtMs = clock.ElapsedMilliseconds;
                return true;
            }
            return false;
        }, TimeSpan.FromSeconds(60) - clock.Elapsed, TimeSpan.FromMilliseconds(50));
        Assert.That(takenOverAtMs, Is.GreaterThan(0), "broker-1 takes the topic over");
        long? stoppedAtMs = partitioned.LineSeenAtMs(StopLine, clock);
        TestContext.Progress.WriteLine($"broker-p stopped serving at {stoppedAtMs} ms; broker-1 took over at {takenOverAtMs} ms");
        Assert.That(stoppedAtMs, Is.Not.Null.And.LessThan(takenOverAtMs), "broker-p stopped serving before broker-1 could acquire");

        await Task.Delay(TimeSpan.FromSeconds(4));
        stop.Cancel();
        await sending;
        Assert.That(acked, Is.Not.Empty);

        proxy.Heal();
        await Eventually.That(() => observer.ExistsAsync(OwnershipPaths.Broker("broker-p")), TimeSpan.FromSeconds(60),
            "broker-p re-registers after its new session", TimeSpan.FromMilliseconds(100));
        // The registration record appears just before broker-p flips back to serving; a lookup in between is answered
        // Unavailable (retryable), so ask until it answers, then check whom it names.
        Assert.That(await LookupWhenServingAsync(partitioned.Address, topic!), Is.EqualTo(broker1), "broker-p serves only what it re-acquires");

        await using var consumer = await client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic!, SubscriptionName = "verify", InitialPosition = SubscriptionInitialPosition.Earliest,
        });
        var expected = acked.ToHashSet();
        long highest = expected.Max();
        long last = -1;
        var seen = new HashSet<long>();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (last < highest)
        {
            var message = await consumer.ReceiveAsync(timeout.Token);
            long seq = long.Parse(Encoding.UTF8.GetString(message.Payload.Span), CultureInfo.InvariantCulture);
            if (!seen.Add(seq)) continue;
            Assert.That(seq, Is.GreaterThan(last), $"message {seq} after {last} breaks the producer's order");
            last = seq;
        }
        expected.ExceptWith(seen);
        Assert.That(expected, Is.Empty, "every acknowledged message survives the hand-over");
    }

    private static async Task<string> LookupOnAsync(string broker, string topic)
    {
        using var channel = Grpc.Net.Client.GrpcChannel.ForAddress("http://" + broker);
        var answer = await new Protocol.Broker.PulsarishBroker.PulsarishBrokerClient(channel)
            .LookupAsync(new Protocol.Broker.LookupRequest { Topic = topic }, deadline: DateTime.UtcNow.AddSeconds(10));
        return answer.BrokerAddress;
    }

    private static async Task<string> LookupWhenServingAsync(string broker, string topic)
    {
        var deadline = Stopwatch.StartNew();
        while (true)
        {
            try
            {
                return await LookupOnAsync(broker, topic);
            }
            catch (Grpc.Core.RpcException e) when (e.StatusCode == Grpc.Core.StatusCode.Unavailable && deadline.Elapsed < TimeSpan.FromSeconds(15))
            {
                await Task.Delay(50);
            }
        }
    }

    private static async Task SendLoopAsync(Producer producer, ConcurrentQueue<long> acked, CancellationToken stop)
    {
        var pending = new List<Task>();
        for (long seq = 0; !stop.IsCancellationRequested; seq++)
        {
            long current = seq;
            pending.Add(producer.SendAsync(Encoding.UTF8.GetBytes(current.ToString(CultureInfo.InvariantCulture)))
                .ContinueWith(t =>
                {
                    if (t.IsCompletedSuccessfully) acked.Enqueue(current);
                }, TaskScheduler.Default));
            if (pending.Count >= 20)
            {
                await Task.WhenAny(pending);
                pending.RemoveAll(p => p.IsCompleted);
            }
            await Task.Delay(10, CancellationToken.None);
        }
        await Task.WhenAll(pending).WaitAsync(TimeSpan.FromSeconds(90));
    }
}
