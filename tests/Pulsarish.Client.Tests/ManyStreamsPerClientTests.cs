using System.Diagnostics;
using System.Text;

namespace Pulsarish.Client.Tests;

/// <summary>
/// One client holding far more producer and consumer streams than one HTTP/2 connection carries: the broker allows
/// only Kestrel's default of 100 concurrent streams per connection here, the client has a pool of 4 connections
/// and opens more when those are full. Every stream opens, every send is acknowledged and every message is delivered
/// (README "Many producers and consumers per client").
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class ManyStreamsPerClientTests
{
    private const int Topics = 100;
    private const int PerTopic = 10;
    private const int StreamsPerConnection = 100;

    [Test]
    [CancelAfter(120_000)]
    public async Task ThousandProducersAndThousandConsumersOnOneClientAllConfirm()
    {
        await using var cluster = await InProcessCluster.StartAsync(
            configure: o => o.MaxConcurrentStreamsPerConnection = StreamsPerConnection);
        await using var client = new PulsarishClient(new PulsarishClientOptions
        {
            ServiceUrls = [cluster.Address],
            OperationTimeout = TimeSpan.FromSeconds(60),
            InitialReconnectDelay = TimeSpan.FromMilliseconds(50),
            MaxReconnectDelay = TimeSpan.FromSeconds(1),
            ConnectionsPerBroker = 4,
        });
        var clock = Stopwatch.StartNew();
        string prefix = "many-" + Guid.NewGuid().ToString("N")[..8];
        var topics = Enumerable.Range(0, Topics).Select(t => $"{prefix}-{t}").ToArray();

        var consumers = await Task.WhenAll(topics.SelectMany(topic => Enumerable.Range(0, PerTopic).Select(c =>
            client.SubscribeAsync(new ConsumerOptions
            {
                Topic = topic, SubscriptionName = $"sub-{c}", InitialPosition = SubscriptionInitialPosition.Earliest,
                ReceiverQueueSize = 2 * PerTopic,
            }))));
        TestContext.Progress.WriteLine($"{consumers.Length} consumers subscribed at {clock.ElapsedMilliseconds} ms");
        var producers = await Task.WhenAll(topics.SelectMany(topic => Enumerable.Range(0, PerTopic).Select(p =>
            client.CreateProducerAsync(new ProducerOptions { Topic = topic, ProducerName = $"{topic}-p{p}" }))));
        TestContext.Progress.WriteLine($"{producers.Length} producers connected at {clock.ElapsedMilliseconds} ms");
        int connections = EstablishedConnectionsTo(cluster.Cluster.Broker.EndPoint.Port);
        TestContext.Progress.WriteLine($"{connections} TCP connections to the broker");
        Assert.That(connections, Is.GreaterThanOrEqualTo(2 * Topics * PerTopic / StreamsPerConnection),
            "the streams are spread over connections within the broker's per-connection limit");

        var receipts = await Task.WhenAll(producers.Select(p => p.SendAsync(Encoding.UTF8.GetBytes(p.Name))));
        Assert.That(receipts.Distinct().Count(), Is.EqualTo(Topics * PerTopic), "every producer got its own receipt");
        TestContext.Progress.WriteLine($"{receipts.Length} sends acknowledged at {clock.ElapsedMilliseconds} ms");

        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        var received = await Task.WhenAll(consumers.Select(async consumer =>
        {
            var names = new List<string>();
            while (names.Count < PerTopic)
            {
                var message = await consumer.ReceiveAsync(deadline.Token);
                names.Add(Encoding.UTF8.GetString(message.Payload.Span));
                await consumer.AcknowledgeAsync(message.MessageId, deadline.Token);
            }
            return (consumer.Topic, Names: names);
        }));
        TestContext.Progress.WriteLine($"{received.Length * PerTopic} messages received at {clock.ElapsedMilliseconds} ms");
        foreach (var (topic, names) in received)
        {
            var expected = Enumerable.Range(0, PerTopic).Select(p => $"{TopicShortName(topic)}-p{p}");
            Assert.That(names, Is.EquivalentTo(expected), $"every consumer of {topic} received each producer's message once");
        }

        await Task.WhenAll(producers.Select(p => p.DisposeAsync().AsTask()).Concat(consumers.Select(c => c.DisposeAsync().AsTask())));
    }

    [Test]
    public void ConnectionSettingsOutOfRangeAreRefused()
    {
        Assert.Throws<ArgumentException>(() => _ = new PulsarishClient(new PulsarishClientOptions { ConnectionsPerBroker = 0 }));
        Assert.Throws<ArgumentException>(() => _ = new PulsarishClient(new PulsarishClientOptions { KeepAliveInterval = TimeSpan.FromMilliseconds(500) }));
        Assert.Throws<ArgumentException>(() => _ = new PulsarishClient(new PulsarishClientOptions { KeepAliveTimeout = TimeSpan.Zero }));
        Assert.Throws<ArgumentException>(() => _ = new PulsarishClient(new PulsarishClientOptions { ConnectionTimeout = TimeSpan.Zero }));
        Assert.Throws<ArgumentException>(() => new Pulsarish.Broker.Server.BrokerServerOptions { MaxConcurrentStreamsPerConnection = 0 }.Validate());
    }

    /// <summary>
    /// Established connections whose remote end is 127.0.0.1:<paramref name="port"/>, IPv4 or IPv4-mapped IPv6
    /// (.NET's dual-mode sockets), from Linux's /proc/net/tcp{,6}.
    /// </summary>
    private static int EstablishedConnectionsTo(int port)
    {
        string remote = $"0100007F:{port:X4}";
        return new[] { "/proc/net/tcp", "/proc/net/tcp6" }.Where(File.Exists)
            .SelectMany(path => File.ReadLines(path).Skip(1))
            .Select(line => line.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            .Count(f => f[2].EndsWith(remote, StringComparison.Ordinal) && f[3] == "01");
    }

    private static string TopicShortName(string topic) => topic[(topic.LastIndexOf('/') + 1)..];
}
