using System.Diagnostics;
using Pulsarish.Broker.Ownership;
using Pulsarish.Metadata;
using Pulsarish.Metadata.ZooKeeper;
using Pulsarish.TestKit;

namespace Pulsarish.Cluster.Tests.Ownership;

/// <summary>
/// Two (or three) ownership services, each on its own ZooKeeper session through a <see cref="FaultProxy"/>,
/// against one real ZooKeeper server.
/// </summary>
[TestFixture]
public sealed class OwnershipServiceTests
{
    private static readonly TimeSpan SessionTimeout = TimeSpan.FromSeconds(3);
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private readonly List<IAsyncDisposable> _cleanup = [];
    private readonly Dictionary<OwnershipService, ZooKeeperMetadataStore> _stores = [];
    private ZooKeeperServer? _server;
    private int _chroot;

    [OneTimeSetUp]
    public async Task StartServer() => _server = await ZooKeeperServer.StartAsync();

    [OneTimeTearDown]
    public async Task StopServer()
    {
        if (_server is not null) await _server.DisposeAsync();
    }

    [SetUp]
    public void NewChroot() => _chroot++;

    [TearDown]
    public async Task Cleanup()
    {
        for (int i = _cleanup.Count - 1; i >= 0; i--) await _cleanup[i].DisposeAsync();
        _cleanup.Clear();
        _stores.Clear();
    }

    [Test]
    public async Task EveryBundleHasExactlyOneOwnerAndLookupsFromBothBrokersAgree()
    {
        var (a, _) = await StartBrokerAsync("broker-a");
        var (b, _) = await StartBrokerAsync("broker-b");
        var services = new[] { a, b };
        var topics = Enumerable.Range(0, 16).Select(i => $"persistent://public/default/t-{i}").ToArray();

        // Both brokers answer concurrently; a client follows a redirect with an authoritative lookup (Pulsar's rule).
        await Task.WhenAll(topics.SelectMany(t => services.Select(s => ResolveAsync(services, s, t))));

        foreach (var topic in topics)
        {
            var bundle = a.Bundles.Find(topic);
            var owner = await a.GetOwnerAsync(bundle);
            Assert.That(owner, Is.Not.Null, $"{bundle} has an owner");
            Assert.That(await a.LookupAsync(topic), Is.EqualTo(owner!.Address));
            Assert.That(await b.LookupAsync(topic), Is.EqualTo(owner.Address));
            Assert.That(services.Count(s => s.IsOwnedByMe(topic)), Is.EqualTo(1), $"exactly one broker serves {topic}");
        }
        Assert.That(a.OwnedBundles.Count + b.OwnedBundles.Count, Is.EqualTo(4));
        Assert.That(a.OwnedBundles, Is.Not.Empty, "least-loaded placement gives broker-a some bundles");
        Assert.That(b.OwnedBundles, Is.Not.Empty, "least-loaded placement gives broker-b some bundles");
        Assert.That((await a.Registry.GetLiveBrokersAsync()).Select(r => r.BrokerId), Is.EquivalentTo(new[] { "broker-a", "broker-b" }));
    }

    [Test]
    public async Task WhenTheOwnersSessionExpiresItStopsServingFirstAndTheOtherBrokerTakesOverOnTheNextLookup()
    {
        var (a, proxyA) = await StartBrokerAsync("broker-a");
        var (b, _) = await StartBrokerAsync("broker-b");
        const string topic = "persistent://public/default/takeover";
        Assert.That(await a.LookupAsync(topic, authoritative: true), Is.EqualTo(a.Address));
        Assert.That(await b.LookupAsync(topic), Is.EqualTo(a.Address));
        var clock = Stopwatch.StartNew();
        long stoppedAtTicks = -1;
        var reasons = new List<ServingStopReason>();
        var lost = new List<NamespaceBundle>();
        a.ServingStopped += r =>
        {
            lock (reasons)
            {
                if (stoppedAtTicks < 0) stoppedAtTicks = clock.ElapsedTicks;
                reasons.Add(r);
            }
        };
        a.BundleLost += bundle =>
        {
            lock (lost) lost.Add(bundle);
        };

        proxyA.Partition();
        // B keeps looking up until A's session expires on the server and B acquires.
        long acquiredAtTicks = -1;
        await Eventually.Until(async () =>
        {
            if (await b.LookupAsync(topic) == b.Address && b.IsOwnedByMe(topic))
            {
                acquiredAtTicks = clock.ElapsedTicks;
                return true;
            }
            return false;
        }, Patience, TimeSpan.FromMilliseconds(100));
        Assert.That(acquiredAtTicks, Is.GreaterThan(0), "broker-b took the bundle over");
        lock (reasons)
        {
            Assert.That(stoppedAtTicks, Is.GreaterThan(0), "broker-a raised the stop event");
            Assert.That(stoppedAtTicks, Is.LessThan(acquiredAtTicks), "broker-a stopped before broker-b acquired");
            Assert.That(reasons[0], Is.EqualTo(ServingStopReason.ConnectionLost));
        }
        Assert.That(a.IsOwnedByMe(topic), Is.False);
        Assert.That(a.IsServing, Is.False);

        proxyA.Heal();
        await WaitUntilAsync(() => a.IsServing, "broker-a re-registers after its new session");
        lock (reasons) Assert.That(reasons, Does.Contain(ServingStopReason.SessionLost));
        lock (lost) Assert.That(lost, Is.EqualTo(new[] { a.Bundles.Find(topic) }));
        Assert.That(a.IsOwnedByMe(topic), Is.False, "after re-joining, broker-a serves only what it re-acquires");
        Assert.That(a.OwnedBundles, Is.Empty);
        Assert.That(await a.LookupAsync(topic), Is.EqualTo(b.Address));
        Assert.That((await b.Registry.GetLiveBrokersAsync()).Select(r => r.BrokerId), Does.Contain("broker-a"));
    }

    [Test]
    public async Task ReleasedBundleIsServedByNobodyUntilTheNextLookupAcquiresIt()
    {
        var (a, _) = await StartBrokerAsync("broker-a");
        var (b, _) = await StartBrokerAsync("broker-b");
        const string topic = "persistent://public/default/unload";
        await a.LookupAsync(topic, authoritative: true);
        var bundle = a.Bundles.Find(topic);
        var lost = new TaskCompletionSource<NamespaceBundle>(TaskCreationOptions.RunContinuationsAsynchronously);
        a.BundleLost += x => lost.TrySetResult(x);

        await a.ReleaseAsync(bundle);

        Assert.That(await lost.Task.WaitAsync(Patience), Is.EqualTo(bundle));
        Assert.That(a.IsOwnedByMe(topic), Is.False);
        Assert.That(await b.GetOwnerAsync(bundle), Is.Null);
        Assert.That(await b.LookupAsync(topic, authoritative: true), Is.EqualTo(b.Address));
        Assert.That(await a.LookupAsync(topic), Is.EqualTo(b.Address));
    }

    [Test]
    public async Task RestartedBrokerReplacesTheStaleRecordsOfItsPreviousIncarnation()
    {
        var (old, oldProxy) = await StartBrokerAsync("broker-a");
        const string topic = "persistent://public/default/restart";
        await old.LookupAsync(topic, authoritative: true);
        oldProxy.Partition(); // the old process is gone, its session not yet expired

        var (fresh, _) = await StartBrokerAsync("broker-a");
        Assert.That(await fresh.LookupAsync(topic), Is.EqualTo(fresh.Address));
        Assert.That(fresh.IsOwnedByMe(topic), Is.True);
        Assert.That((await fresh.GetOwnerAsync(fresh.Bundles.Find(topic)))!.InstanceId, Is.EqualTo(fresh.InstanceId));
    }

    [Test]
    public async Task RegistrationOfTheSameInstanceLeftByAnEarlierSessionIsReplacedUnderTheCurrentOne()
    {
        var oldSession = await ConnectAsync();
        var session = await ConnectAsync();
        var report = new BrokerLoadReport("broker-a", "127.0.0.1:6650", "instance-1", 0, 0, 0, 0, 0, 0);
        string path = OwnershipPaths.Broker(report.BrokerId);
        // The broker's record as a session expiry leaves it: same instance, the old session still alive on the server.
        await oldSession.CreateAsync(path, Json(report), CreateOptions.Ephemeral);

        await new BrokerRegistry(session).RegisterAsync(report);

        Assert.That((await session.GetAsync(path))!.Stat.EphemeralOwner, Is.EqualTo(session.SessionId));
        await oldSession.DisposeAsync();
        Assert.That((await session.GetAsync(path))!.Stat.EphemeralOwner, Is.EqualTo(session.SessionId),
            "the registration outlives the old session");
    }

    [Test]
    public async Task OwnershipOfTheSameInstanceLeftByAnEarlierSessionIsReplacedUnderTheCurrentOne()
    {
        var (a, _) = await StartBrokerAsync("broker-a");
        var store = _stores[a];
        var oldSession = await ConnectAsync();
        const string topic = "persistent://public/default/old-session";
        var bundle = a.Bundles.Find(topic);
        await oldSession.CreateAsync(bundle.Path, Json(new OwnershipData(a.BrokerId, a.Address, a.InstanceId)),
            CreateOptions.Ephemeral);

        Assert.That(await a.LookupAsync(topic, authoritative: true), Is.EqualTo(a.Address));

        Assert.That(a.IsOwnedByMe(topic), Is.True);
        Assert.That((await store.GetAsync(bundle.Path))!.Stat.EphemeralOwner, Is.EqualTo(store.SessionId));
        await oldSession.DisposeAsync();
        Assert.That((await store.GetAsync(bundle.Path))!.Stat.EphemeralOwner, Is.EqualTo(store.SessionId));
        Assert.That(a.IsOwnedByMe(topic), Is.True, "the old session's end takes nothing of ours");
    }

    [Test]
    public async Task RegistrationAndOwnershipDeletedBySomeoneElseAreCreatedAgainByTheirOwner()
    {
        var (a, _) = await StartBrokerAsync("broker-a");
        var store = _stores[a];
        var admin = await ConnectAsync();
        const string topic = "persistent://public/default/deleted";
        await a.LookupAsync(topic, authoritative: true);
        var bundle = a.Bundles.Find(topic);

        await admin.DeleteAsync(OwnershipPaths.Broker(a.BrokerId), null);
        await admin.DeleteAsync(bundle.Path, null);

        await WaitUntilAsync(async () => (await admin.GetAsync(OwnershipPaths.Broker(a.BrokerId)))?.Stat.EphemeralOwner
                                         == store.SessionId, "broker-a registered again");
        await WaitUntilAsync(async () => (await admin.GetAsync(bundle.Path))?.Stat.EphemeralOwner == store.SessionId
                                         && a.IsOwnedByMe(topic), "broker-a owns its bundle again");
    }

    /// <summary>Records as the brokers write them (JSON, web defaults).</summary>
    private static byte[] Json<T>(T record) =>
        System.Text.Json.JsonSerializer.SerializeToUtf8Bytes(record, new System.Text.Json.JsonSerializerOptions(System.Text.Json.JsonSerializerDefaults.Web));

    private async Task<ZooKeeperMetadataStore> ConnectAsync()
    {
        var store = await ZooKeeperMetadataStore.ConnectAsync(new ZooKeeperClientOptions
        {
            ConnectString = $"{_server!.ConnectString}/ownership-{_chroot}",
            SessionTimeout = SessionTimeout,
        });
        _cleanup.Add(store);
        return store;
    }

    private static async Task ResolveAsync(OwnershipService[] services, OwnershipService first, string topic)
    {
        string address = await first.LookupAsync(topic);
        if (address == first.Address) return;
        var target = services.Single(s => s.Address == address);
        await target.LookupAsync(topic, authoritative: true);
    }

    private async Task<(OwnershipService Service, FaultProxy Proxy)> StartBrokerAsync(string brokerId)
    {
        var proxy = new FaultProxy(_server!.ClientPort);
        _cleanup.Add(proxy);
        var store = await ZooKeeperMetadataStore.ConnectAsync(new ZooKeeperClientOptions
        {
            ConnectString = $"127.0.0.1:{proxy.Port}/ownership-{_chroot}",
            SessionTimeout = SessionTimeout,
        });
        _cleanup.Add(store);
        var service = new OwnershipService(store, new OwnershipOptions
        {
            BrokerId = brokerId,
            AdvertisedAddress = $"127.0.0.1:{10000 + _cleanup.Count}",
            LoadReportInterval = TimeSpan.FromMilliseconds(500),
        });
        await service.StartAsync();
        _cleanup.Add(service);
        _stores[service] = store;
        return (service, proxy);
    }

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!await condition())
        {
            if (sw.Elapsed > Patience) Assert.Fail($"timed out waiting for {what}");
            await Task.Delay(50);
        }
    }

    private static async Task WaitUntilAsync(Func<bool> condition, string what)
    {
        await Eventually.That(condition, Patience, $"waiting for {what}", TimeSpan.FromMilliseconds(50));
    }
}
