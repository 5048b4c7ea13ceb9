using System.Collections.Concurrent;
using System.Diagnostics;
using Pulsarish.Protocol.Errors;
using Pulsarish.Metadata.ZooKeeper;
using Pulsarish.TestKit;

namespace Pulsarish.Metadata.Tests.ZooKeeper;

/// <summary>Connection loss and session expiry against a real server that the tests stop and restart.</summary>
[TestFixture]
[CancelAfter(90_000)]
public sealed class ZooKeeperSessionTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(20);
    private ZooKeeperServer _server = null!;

    [OneTimeSetUp]
    public async Task StartServer() => _server = await ZooKeeperServer.StartAsync();

    [OneTimeTearDown]
    public async Task StopServer()
    {
        if (_server is not null) await _server.DisposeAsync();
    }

    [SetUp]
    public async Task EnsureRunning()
    {
        if (!_server.IsRunning) await _server.RestartAsync();
    }

    private Task<ZooKeeperClient> Connect(TimeSpan sessionTimeout, TimeSpan? disconnectedOperationTimeout = null) =>
        ZooKeeperClient.ConnectAsync(new ZooKeeperClientOptions
        {
            ConnectString = _server.ConnectString,
            SessionTimeout = sessionTimeout,
            ConnectTimeout = TimeSpan.FromMilliseconds(500),
            DisconnectedOperationTimeout = disconnectedOperationTimeout ?? TimeSpan.FromSeconds(10),
        }, new ProgressLogger("zk"));

    [Test]
    public async Task EphemeralVanishesWhenItsSessionExpiresAndAnotherClientsWatchSeesIt()
    {
        await using var watcher = await Connect(TimeSpan.FromSeconds(20));
        await using var owner = await Connect(TimeSpan.FromSeconds(1));
        string path = $"/eph-{Guid.NewGuid():N}";
        await owner.CreateAsync(path, [1], CreateMode.Ephemeral);
        var ownerStates = new BlockingCollection<ZooKeeperState>();
        owner.StateChanged += ownerStates.Add;
        var watcherEvents = new BlockingCollection<WatchedEvent>();
        watcher.Watch += watcherEvents.Add;
        Assert.That(await watcher.ExistsAsync(path, watch: true), Is.Not.Null);
        long watcherSession = watcher.SessionId;

        // Down for longer than the owner's session timeout: the owner cannot reconnect in time and declares expiry.
        await _server.StopAsync();
        var pendingWhileDown = watcher.GetDataAsync(path);
        Assert.That(TakeUntil(ownerStates, ZooKeeperState.Expired), Is.True, "owner never reported Expired");
        Assert.That(owner.State, Is.EqualTo(ZooKeeperState.Expired));
        Assert.ThrowsAsync<SessionExpiredException>(() => owner.GetDataAsync(path).WaitAsync(Wait));
        Assert.ThrowsAsync<SessionExpiredException>(() => owner.CreateAsync(path + "x", [], CreateMode.Ephemeral).WaitAsync(Wait));

        // The server restores the owner's session from its log and expires it one timeout later; the watcher,
        // which reconnects within its own timeout, keeps its session and gets its re-registered watch fired.
        await _server.RestartAsync();
        var (data, _) = await pendingWhileDown.WaitAsync(Wait);
        Assert.That(data, Is.EqualTo(new byte[] { 1 }), "an operation issued while disconnected ran after the reconnect");
        Assert.That(watcherEvents.TryTake(out var deleted, Wait), Is.True, "watcher saw no deletion");
        Assert.That(deleted, Is.EqualTo(new WatchedEvent(WatchedEventType.NodeDeleted, path)));
        Assert.That(await watcher.ExistsAsync(path), Is.Null);
        Assert.That(watcher.SessionId, Is.EqualTo(watcherSession));
        Assert.That(watcher.State, Is.EqualTo(ZooKeeperState.Connected));
        Assert.That(owner.State, Is.EqualTo(ZooKeeperState.Expired), "an expired client never comes back by itself");
    }

    [Test]
    public async Task OperationsInFlightWhenTheServerDiesFailWithConnectionLoss()
    {
        await using var client = await Connect(TimeSpan.FromSeconds(20), TimeSpan.FromSeconds(1));
        string root = $"/inflight-{Guid.NewGuid():N}";
        await client.CreateAsync(root, [], CreateMode.Persistent);
        var ops = new List<Task>();
        for (int i = 0; i < 300; i++) ops.Add(client.CreateAsync($"{root}/n{i}", new byte[1000], CreateMode.Persistent));
        await _server.StopAsync();
        var sw = Stopwatch.StartNew();
        int succeeded = 0, lost = 0;
        foreach (var op in ops)
        {
            try
            {
                await op.WaitAsync(Wait);
                succeeded++;
            }
            catch (ConnectionLossException)
            {
                lost++;
            }
        }
        TestContext.Progress.WriteLine($"{succeeded} succeeded, {lost} failed with ConnectionLoss in {sw.Elapsed}");
        Assert.That(succeeded + lost, Is.EqualTo(ops.Count));
        Assert.That(sw.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)), "no operation may hang");
        // When every operation was answered before the server went, the client notices the closed socket just after.
        await Eventually.That(() => client.State == ZooKeeperState.Disconnected, Wait, "the client reports the server's death");

        await _server.RestartAsync();
        await WaitForState(client, ZooKeeperState.Connected);
        var (children, _) = await client.GetChildrenAsync(root).WaitAsync(Wait);
        Assert.That(children, Has.Count.GreaterThanOrEqualTo(succeeded), "every acknowledged create is durable");
    }

    [Test]
    public async Task WatchesOfEveryKindAreReRegisteredAfterReconnect()
    {
        await using var client = await Connect(TimeSpan.FromSeconds(20));
        string root = $"/rewatch-{Guid.NewGuid():N}";
        await client.CreateAsync(root, [], CreateMode.Persistent);
        await client.CreateAsync(root + "/d", [0], CreateMode.Persistent);
        await client.CreateAsync(root + "/p", [], CreateMode.Persistent);
        await client.GetDataAsync(root + "/d", watch: true);
        Assert.That(await client.ExistsAsync(root + "/e", watch: true), Is.Null);
        await client.GetChildrenAsync(root + "/p", watch: true);
        var events = new BlockingCollection<WatchedEvent>();
        client.Watch += events.Add;

        await _server.RestartAsync();
        await WaitForState(client, ZooKeeperState.Connected);
        await using var other = await Connect(TimeSpan.FromSeconds(20));
        await other.SetDataAsync(root + "/d", [1]);
        await other.CreateAsync(root + "/e", [], CreateMode.Persistent);
        await other.CreateAsync(root + "/p/c", [], CreateMode.Persistent);

        var seen = new List<WatchedEvent>();
        while (seen.Count < 3 && events.TryTake(out var e, Wait)) seen.Add(e);
        Assert.That(seen, Is.EqualTo(new[]
        {
            new WatchedEvent(WatchedEventType.NodeDataChanged, root + "/d"),
            new WatchedEvent(WatchedEventType.NodeCreated, root + "/e"),
            new WatchedEvent(WatchedEventType.NodeChildrenChanged, root + "/p"),
        }));
    }

    [Test]
    public async Task PingsKeepAnIdleSessionAlive()
    {
        await using var client = await Connect(TimeSpan.FromSeconds(1));
        Assert.That(client.NegotiatedTimeout, Is.EqualTo(TimeSpan.FromSeconds(1)));
        long session = client.SessionId;
        var states = new ConcurrentQueue<ZooKeeperState>();
        client.StateChanged += states.Enqueue;
        // Idle for three session timeouts: only pings flow.
        await Task.Delay(TimeSpan.FromSeconds(3));
        Assert.That(states.Where(s => s != ZooKeeperState.Connected), Is.Empty);
        Assert.That(await client.ExistsAsync("/"), Is.Not.Null);
        Assert.That(client.SessionId, Is.EqualTo(session));
    }

    private static bool TakeUntil(BlockingCollection<ZooKeeperState> states, ZooKeeperState wanted)
    {
        while (states.TryTake(out var s, Wait))
            if (s == wanted) return true;
        return false;
    }

    private static async Task WaitForState(ZooKeeperClient client, ZooKeeperState state)
    {
        await Eventually.That(() => client.State == state, Wait, $"client reaches {state}");
    }
}
