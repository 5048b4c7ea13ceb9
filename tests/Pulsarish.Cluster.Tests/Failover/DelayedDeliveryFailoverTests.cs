using System.Diagnostics;
using Pulsarish.Client;
using Pulsarish.Client.Tests;
using Pulsarish.Cluster.Tests.Supervisor;
using Pulsarish.TestKit;

namespace Pulsarish.Cluster.Tests.Failover;

/// <summary>
/// Delayed delivery across a broker crash: ZooKeeper, 3 bookie processes and 2 broker processes under
/// <c>pulsarish cluster</c>; the broker owning a topic full of delayed messages is killed with SIGKILL, the topic moves,
/// and the new owner rebuilds its delayed-delivery tracker from the log: every message arrives, none before its time.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class DelayedDeliveryFailoverTests
{
    /// <summary>Clock granularity between the broker processes' clock reading and the test's (same machine clock).</summary>
    private const long ClockSlackMillis = 2;

    [Test]
    public async Task DelayedMessagesSurviveTheOwnerBeingKilledAndNoneArrivesEarly()
    {
        int seed = TestSeed.Use();
        // A long restart back-off keeps the killed broker down: the topic must move to the other broker.
        await using var cluster = await ClusterProcess.StartAsync(bookies: 3, brokers: 2, "--restart-backoff-ms", "300000");
        var brokers = cluster.Status()!.Brokers;
        await using var client = new PulsarishClient(new PulsarishClientOptions
        {
            ServiceUrls = brokers.ToArray(),
            MaxReconnectDelay = TimeSpan.FromSeconds(1),
            OperationTimeout = TimeSpan.FromSeconds(60),
        });
        string topic = $"persistent://public/default/delayed-failover-{Guid.NewGuid():N}";
        await using var consumer = await client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "sub", SubscriptionType = SubscriptionType.Shared,
            InitialPosition = SubscriptionInitialPosition.Earliest,
        });
        var due = await DelayedTraffic.SendAsync(client, topic, 10_000, TimeSpan.FromSeconds(30), new Random(seed));
        var receiving = DelayedTraffic.ReceiveAllAsync(consumer, due.Length, TimeSpan.FromSeconds(150), seed);

        string owner = await client.LookupAsync(topic);
        var victim = cluster.Status()!.Members.Single(m => m.Role == "broker" && m.Address == owner);
        long now = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        int stillDelayed = due.Count(d => d > now + 5_000);
        Process.GetProcessById(victim.Pid!.Value).Kill(); // SIGKILL
        TestContext.Progress.WriteLine($"killed {victim.Name} ({owner}), owner of {topic}; {stillDelayed} messages due more than 5 s later");
        Assert.That(stillDelayed, Is.GreaterThan(1_000), "the kill happens while many messages are still held");

        var received = await receiving;
        DelayedTraffic.AssertNoneEarly(due, received, ClockSlackMillis, seed);
        string survivor = brokers.Single(b => b != owner);
        Assert.That(await client.LookupAsync(topic), Is.EqualTo(survivor), "the topic moved to the surviving broker");
    }
}
