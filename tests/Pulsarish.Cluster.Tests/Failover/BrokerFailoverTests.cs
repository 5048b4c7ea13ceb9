using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Text;
using Pulsarish.Client;
using Pulsarish.Cluster.Tests.Supervisor;

namespace Pulsarish.Cluster.Tests.Failover;

/// <summary>
/// DESIGN.md §7 end to end: ZooKeeper, 3 bookie processes and 2 broker processes under <c>pulsarish cluster</c>;
/// producers on 20 topics; the broker owning some of them is killed with SIGKILL mid-stream.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class BrokerFailoverTests
{
    private const int Topics = 20;
    private static readonly TimeSpan ProduceBeforeKill = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan ProduceAfterKill = TimeSpan.FromSeconds(12);
    private const int MaxInFlightPerProducer = 50;

    [Test]
    public async Task TopicsOfAKilledBrokerMoveAndEveryAcknowledgedMessageIsConsumedInProducerOrder()
    {
        // A long restart back-off keeps the killed broker down: its topics must move to the other broker.
        await using var cluster = await ClusterProcess.StartAsync(bookies: 3, brokers: 2, "--restart-backoff-ms", "300000");
        var brokers = cluster.Status()!.Brokers;
        await using var client = new PulsarishClient(new PulsarishClientOptions
        {
            ServiceUrls = brokers.ToArray(),
            MaxReconnectDelay = TimeSpan.FromSeconds(1),
            OperationTimeout = TimeSpan.FromSeconds(60),
        });
        var topics = Enumerable.Range(0, Topics).Select(i => $"persistent://public/default/failover-{i}").ToArray();
        var acked = topics.ToDictionary(t => t, _ => new ConcurrentQueue<long>());
        var failedSends = 0;
        var producers = new List<Producer>();
        foreach (var topic in topics)
            producers.Add(await client.CreateProducerAsync(new ProducerOptions { Topic = topic, ProducerName = "p-" + topic[^2..] }));

        var owners = new Dictionary<string, string>();
        foreach (var topic in topics) owners[topic] = await client.LookupAsync(topic);
        var byBroker = owners.GroupBy(o => o.Value).ToDictionary(g => g.Key, g => g.Count());
        TestContext.Progress.WriteLine("owners before the kill: " + string.Join(", ", byBroker.Select(kv => $"{kv.Key}={kv.Value}")));
        Assert.That(byBroker.Keys, Has.Count.EqualTo(2), "least-loaded placement spreads the topics over both brokers");

        using var stop = new CancellationTokenSource();
        var sendLoops = producers.Select((p, i) => SendLoopAsync(p, acked[topics[i]], () => Interlocked.Increment(ref failedSends), stop.Token)).ToList();
        await Task.Delay(ProduceBeforeKill);

        string victimAddress = owners[topics[0]];
        var victim = cluster.Status()!.Members.Single(m => m.Role == "broker" && m.Address == victimAddress);
        var movedTopics = owners.Where(o => o.Value == victimAddress).Select(o => o.Key).ToList();
        var ackedAtKill = topics.ToDictionary(t => t, t => acked[t].Count);
        Process.GetProcessById(victim.Pid!.Value).Kill(); // SIGKILL
        var killedAt = Stopwatch.StartNew();
        TestContext.Progress.WriteLine($"killed {victim.Name} ({victimAddress}), owner of {movedTopics.Count} topics");

        await Task.Delay(ProduceAfterKill);
        stop.Cancel();
        await Task.WhenAll(sendLoops);
        foreach (var p in producers) await p.DisposeAsync();

        string survivor = brokers.Single(b => b != victimAddress);
        foreach (var topic in topics)
        {
            Assert.That(await client.LookupAsync(topic), Is.EqualTo(survivor), $"{topic} is served by the surviving broker");
            Assert.That(acked[topic].Count, Is.GreaterThan(ackedAtKill[topic]), $"{topic} accepted messages after the kill");
        }
        TestContext.Progress.WriteLine(
            $"acknowledged {acked.Values.Sum(q => q.Count)} messages, {failedSends} sends failed; consuming after {killedAt.Elapsed.TotalSeconds:F1} s");

        int duplicates = 0;
        foreach (var topic in topics)
        {
            var expected = acked[topic].ToHashSet();
            long highest = acked[topic].Max();
            await using var consumer = await client.SubscribeAsync(new ConsumerOptions
            {
                Topic = topic,
                SubscriptionName = "verify",
                InitialPosition = SubscriptionInitialPosition.Earliest,
            });
            var seen = new HashSet<long>();
            long last = -1;
            using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            while (last < highest)
            {
                var message = await consumer.ReceiveAsync(timeout.Token);
                long seq = long.Parse(Encoding.UTF8.GetString(message.Payload.Span), CultureInfo.InvariantCulture);
                if (!seen.Add(seq))
                {
                    duplicates++;
                    continue;
                }
                Assert.That(seq, Is.GreaterThan(last), $"{topic}: message {seq} after {last} breaks the producer's order");
                last = seq;
                await consumer.AcknowledgeAsync(message.MessageId);
            }
            expected.ExceptWith(seen);
            Assert.That(expected, Is.Empty, $"{topic}: acknowledged messages missing");
        }
        TestContext.Progress.WriteLine($"every acknowledged message consumed in order; {duplicates} duplicates");
    }

    /// <summary>Sends 0, 1, 2, … with a bounded window; records the sequence numbers whose send was acknowledged.</summary>
    private static async Task SendLoopAsync(Producer producer, ConcurrentQueue<long> acked, Action onFailure, CancellationToken stop)
    {
        var window = new SemaphoreSlim(MaxInFlightPerProducer);
        var pending = new List<Task>();
        long seq = 0;
        while (!stop.IsCancellationRequested)
        {
            try
            {
                await window.WaitAsync(stop);
            }
            catch (OperationCanceledException)
            {
                break;
            }
            long current = seq++;
            var send = producer.SendAsync(Encoding.UTF8.GetBytes(current.ToString(CultureInfo.InvariantCulture)));
            pending.Add(send.ContinueWith(t =>
            {
                if (t.IsCompletedSuccessfully) acked.Enqueue(current);
                else onFailure();
                window.Release();
            }, TaskScheduler.Default));
            if (pending.Count > 4 * MaxInFlightPerProducer) pending.RemoveAll(p => p.IsCompleted);
            await Task.Delay(5, CancellationToken.None);
        }
        await Task.WhenAll(pending).WaitAsync(TimeSpan.FromSeconds(90));
    }
}
