using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Pulsarish.Bookie.AutoRecovery;
using Pulsarish.Broker.Ownership;
using Pulsarish.Metadata;
using Pulsarish.Metadata.ZooKeeper;
using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Cluster.Tests.Failover;

/// <summary>
/// DESIGN.md §9 against a real ZooKeeper server: after an outage longer than the session timeout (the server is
/// killed by PID and restarted on its data directory, so it still knows the old sessions and expires them only
/// later), every ephemeral record — broker registration, bundle ownership, bookie registration, auditor candidacy —
/// belongs to its owner's current session, and still exists once the old sessions have expired.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class EphemeralOwnershipAfterOutageTests
{
    private static readonly TimeSpan SessionTimeout = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(45);
    private static readonly string[] Topics = Enumerable.Range(0, 8).Select(i => $"persistent://public/default/outage-{i}").ToArray();

    private readonly List<IAsyncDisposable> _cleanup = [];

    [TearDown]
    public async Task Cleanup()
    {
        for (int i = _cleanup.Count - 1; i >= 0; i--) await _cleanup[i].DisposeAsync();
        _cleanup.Clear();
    }

    [Test]
    [CancelAfter(180_000)]
    public async Task EveryEphemeralRecordBelongsToItsOwnersCurrentSessionAfterAZooKeeperOutage()
    {
        var zk = await ZooKeeperServer.StartAsync();
        _cleanup.Add(zk);
        var brokers = new List<(OwnershipService Service, ZooKeeperMetadataStore Store)>();
        var bookies = new List<(string Id, BookieRegistry Registry, AuditorElector Elector, ZooKeeperMetadataStore Store)>();
        for (int i = 1; i <= 2; i++)
        {
            var store = await ConnectAsync(zk);
            var service = new OwnershipService(store, new OwnershipOptions
            {
                BrokerId = $"broker-{i}", AdvertisedAddress = $"127.0.0.1:{16650 + i}", LoadReportInterval = TimeSpan.FromMilliseconds(500),
            });
            await service.StartAsync();
            _cleanup.Add(service);
            brokers.Add((service, store));
        }
        for (int i = 1; i <= 3; i++)
        {
            var store = await ConnectAsync(zk);
            string id = $"bookie-{i}";
            var registry = new BookieRegistry(store);
            _cleanup.Add(registry);
            await registry.RegisterAsync(new BookieServiceInfo { BookieId = id, Address = $"127.0.0.1:{13180 + i}", InstanceId = $"disks-{i}" });
            var elector = new AuditorElector(store, id, ct => Task.Delay(Timeout.Infinite, ct), NullLogger<AuditorElector>.Instance);
            _cleanup.Add(elector);
            elector.Start();
            bookies.Add((id, registry, elector, store));
        }
        await using var observer = await ZooKeeperMetadataStore.ConnectAsync(new ZooKeeperClientOptions
        {
            ConnectString = zk.ConnectString, SessionTimeout = TimeSpan.FromSeconds(30),
        });
        await LookupEveryTopicAsync(brokers);
        await WaitUntilAsync(() => bookies.Count(b => b.Elector.IsLeader) == 1, "one auditor is elected");
        await AssertEveryRecordIsCurrentAsync(observer, brokers, bookies);
        var sessionsBefore = brokers.Select(b => b.Store.SessionId).Concat(bookies.Select(b => b.Store.SessionId)).ToHashSet();

        await zk.StopAsync();
        await Task.Delay(SessionTimeout + TimeSpan.FromSeconds(3));
        await zk.RestartAsync();
        TestContext.Progress.WriteLine("ZooKeeper restarted");

        await WaitUntilAsync(() => brokers.All(b => b.Service.IsServing && !sessionsBefore.Contains(b.Store.SessionId))
                                   && bookies.All(b => !sessionsBefore.Contains(b.Store.SessionId)),
            "every owner has a new session and the brokers serve");
        await LookupEveryTopicAsync(brokers);
        await WaitUntilAsync(() => bookies.Count(b => b.Elector.IsLeader) == 1, "one auditor is elected again");
        await WaitUntilAsync(async () => await EveryRecordIsCurrentAsync(observer, brokers, bookies) is null,
            "every record belongs to its owner's current session");

        // The restarted server expires the old sessions one session timeout after it started: nothing of ours goes.
        await Task.Delay(2 * SessionTimeout + TimeSpan.FromSeconds(2));
        await AssertEveryRecordIsCurrentAsync(observer, brokers, bookies);
        Assert.That(bookies.Count(b => b.Elector.IsLeader), Is.EqualTo(1), "exactly one auditor");
    }

    private static async Task LookupEveryTopicAsync(List<(OwnershipService Service, ZooKeeperMetadataStore Store)> brokers)
    {
        foreach (string topic in Topics)
        {
            var first = brokers[Array.IndexOf(Topics, topic) % brokers.Count].Service;
            await WaitUntilAsync(async () =>
            {
                try
                {
                    string address = await first.LookupAsync(topic);
                    var target = brokers.Single(b => b.Service.Address == address).Service;
                    await target.LookupAsync(topic, authoritative: true);
                    return target.IsOwnedByMe(topic);
                }
                catch (Exception e) when (e is Pulsarish.Protocol.Errors.PulsarishException)
                {
                    return false;
                }
            }, $"{topic} is owned");
        }
    }

    private static async Task AssertEveryRecordIsCurrentAsync(ZooKeeperMetadataStore observer,
        List<(OwnershipService Service, ZooKeeperMetadataStore Store)> brokers,
        List<(string Id, BookieRegistry Registry, AuditorElector Elector, ZooKeeperMetadataStore Store)> bookies)
    {
        string? problem = await EveryRecordIsCurrentAsync(observer, brokers, bookies);
        Assert.That(problem, Is.Null);
    }

    /// <summary>Null when every record exists under its owner's current session, else what is wrong.</summary>
    private static async Task<string?> EveryRecordIsCurrentAsync(ZooKeeperMetadataStore observer,
        List<(OwnershipService Service, ZooKeeperMetadataStore Store)> brokers,
        List<(string Id, BookieRegistry Registry, AuditorElector Elector, ZooKeeperMetadataStore Store)> bookies)
    {
        foreach (var (service, store) in brokers)
        {
            var registration = await observer.GetAsync(OwnershipPaths.Broker(service.BrokerId));
            if (registration?.Stat.EphemeralOwner != store.SessionId)
                return $"{service.BrokerId}'s registration belongs to {registration?.Stat.EphemeralOwner:x}, not {store.SessionId:x}";
        }
        foreach (string topic in Topics)
        {
            var owner = brokers.SingleOrDefault(b => b.Service.IsOwnedByMe(topic));
            if (owner.Service is null) return $"nobody serves {topic}";
            var record = await observer.GetAsync(owner.Service.Bundles.Find(topic).Path);
            if (record?.Stat.EphemeralOwner != owner.Store.SessionId)
                return $"the ownership of {topic}'s bundle belongs to {record?.Stat.EphemeralOwner:x}, not {owner.Service.BrokerId}'s {owner.Store.SessionId:x}";
        }
        foreach (var (id, _, _, store) in bookies)
        {
            var registration = await observer.GetAsync(MetadataPaths.AvailableBookie(id));
            if (registration?.Stat.EphemeralOwner != store.SessionId)
                return $"{id}'s registration belongs to {registration?.Stat.EphemeralOwner:x}, not {store.SessionId:x}";
        }
        var candidates = (await observer.GetChildrenAsync(MetadataPaths.Auditor)).Order(StringComparer.Ordinal).ToList();
        if (candidates.Count == 0) return "no auditor candidate";
        var leader = await observer.GetAsync(MetadataPaths.Auditor + "/" + candidates[0]);
        if (leader is null) return "the auditor's candidacy vanished";
        string leaderId = Encoding.UTF8.GetString(leader.Value);
        var leaderBookie = bookies.Single(b => b.Id == leaderId);
        if (leader.Stat.EphemeralOwner != leaderBookie.Store.SessionId)
            return $"the auditor candidacy of {leaderId} belongs to {leader.Stat.EphemeralOwner:x}, not {leaderBookie.Store.SessionId:x}";
        if (!leaderBookie.Elector.IsLeader) return $"{leaderId} holds the lowest candidacy but does not lead";
        return null;
    }

    private async Task<ZooKeeperMetadataStore> ConnectAsync(ZooKeeperServer zk)
    {
        var store = await ZooKeeperMetadataStore.ConnectAsync(new ZooKeeperClientOptions
        {
            ConnectString = zk.ConnectString, SessionTimeout = SessionTimeout,
        });
        _cleanup.Add(store);
        return store;
    }

    private static Task WaitUntilAsync(Func<bool> condition, string what) => WaitUntilAsync(() => Task.FromResult(condition()), what);

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!await condition())
        {
            if (sw.Elapsed > Patience) Assert.Fail($"timed out after {Patience.TotalSeconds} s waiting until {what}");
            await Task.Delay(100);
        }
    }
}
