using Pulsarish.Metadata;
using Pulsarish.Metadata.ZooKeeper;
using Pulsarish.TestKit;

namespace Pulsarish.Metadata.Tests.Metadata;

/// <summary>
/// The metadata store contract on a real ZooKeeper server (one per fixture), each session through its own
/// <see cref="FaultProxy"/> so that a test can make it expire on the server (partition past the timeout).
/// </summary>
[TestFixture]
public sealed class ZooKeeperMetadataStoreContractTests : MetadataStoreContractTests
{
    private static readonly TimeSpan SessionTimeout = TimeSpan.FromSeconds(3); // headroom on a loaded machine
    private readonly Dictionary<IMetadataStore, FaultProxy> _proxies = new();
    private ZooKeeperServer? _server;

    [OneTimeSetUp]
    public async Task StartServer() => _server = await ZooKeeperServer.StartAsync();

    [OneTimeTearDown]
    public async Task StopServer()
    {
        foreach (var proxy in _proxies.Values) await proxy.DisposeAsync();
        if (_server is not null) await _server.DisposeAsync();
    }

    protected override async Task<IMetadataStore> CreateSessionAsync()
    {
        var proxy = new FaultProxy(_server!.ClientPort);
        var store = await ZooKeeperMetadataStore.ConnectAsync(new ZooKeeperClientOptions
        {
            ConnectString = $"127.0.0.1:{proxy.Port}/pulsarish-contract",
            SessionTimeout = SessionTimeout,
        });
        lock (_proxies) _proxies.Add(store, proxy);
        return store;
    }

    protected override async Task ExpireSessionAsync(IMetadataStore session)
    {
        var store = (ZooKeeperMetadataStore)session;
        FaultProxy proxy;
        lock (_proxies) proxy = _proxies[session];
        long expiredSession = store.SessionId;
        // The server expires a session it has not heard from for its timeout, rounded up to the next tick.
        proxy.Partition();
        await Task.Delay(store.NegotiatedSessionTimeout + TimeSpan.FromMilliseconds(8 * ZooKeeperServer.TickTimeMillis));
        proxy.Heal();
        await WaitUntilAsync(() => store.SessionId != expiredSession && store.SessionId != 0, "a new ZooKeeper session");
    }

    [Test]
    public async Task ShortPartitionIsReportedAsConnectionLossAndTheSessionSurvives()
    {
        var store = await OpenAsync();
        var watcher = await OpenAsync();
        using var events = new MetadataEventRecorder(store);
        string path = Root + "/eph";
        await store.CreateAsync(path, new byte[] { 1 }, CreateOptions.Ephemeral);
        long session = ((ZooKeeperMetadataStore)store).SessionId;
        var proxy = _proxies[store];

        proxy.Partition();
        await events.WaitForSessionEventAsync(SessionEvent.ConnectionLost);
        proxy.Heal();
        await events.WaitForSessionEventAsync(SessionEvent.Reconnected);

        Assert.That(((ZooKeeperMetadataStore)store).SessionId, Is.EqualTo(session));
        Assert.That(events.SessionEvents, Does.Not.Contain(SessionEvent.SessionLost));
        Assert.That(await watcher.ExistsAsync(path), Is.True, "the ephemeral survives a reconnect within the timeout");
        await store.PutAsync(path, new byte[] { 2 }, 0);
        Assert.That((await watcher.GetAsync(path))!.Value, Is.EqualTo(new byte[] { 2 }));
    }

    [Test]
    public async Task WatchesSetBeforeAShortPartitionStillFire()
    {
        var store = await OpenAsync();
        var writer = await OpenAsync();
        using var events = new MetadataEventRecorder(store);
        string path = Root + "/watched";
        await writer.PutAsync(path, new byte[] { 0 }, null);
        await store.GetAsync(path);
        var proxy = _proxies[store];
        proxy.Partition();
        await events.WaitForSessionEventAsync(SessionEvent.ConnectionLost);
        await writer.PutAsync(path, new byte[] { 1 }, null); // changed while the watcher is cut off
        proxy.Heal();
        await events.WaitForSessionEventAsync(SessionEvent.Reconnected);
        await events.WaitForAsync(NotificationType.Modified, path);
    }

    [Test]
    public async Task FactoryOpensAZooKeeperUrlWithChroot()
    {
        string chroot = "/factory-" + Guid.NewGuid().ToString("N")[..8];
        await using var store = await MetadataStoreFactory.CreateAsync($"zk://{_server!.ConnectString}{chroot}");
        await store.PutAsync("/inside", new byte[] { 7 }, null);
        var plain = await OpenAsync(); // chrooted at /pulsarish-contract: cannot see the factory's chroot
        Assert.That(await plain.ExistsAsync("/inside"), Is.False);
        await using var root = await MetadataStoreFactory.CreateAsync($"zk:{_server.ConnectString}");
        Assert.That((await root.GetAsync(chroot + "/inside"))!.Value, Is.EqualTo(new byte[] { 7 }));
    }
}
