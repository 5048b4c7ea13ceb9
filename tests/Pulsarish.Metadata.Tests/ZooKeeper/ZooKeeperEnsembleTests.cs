using System.Collections.Concurrent;
using System.Diagnostics;
using Pulsarish.Protocol.Errors;
using Pulsarish.Metadata.ZooKeeper;
using Pulsarish.TestKit;

namespace Pulsarish.Metadata.Tests.ZooKeeper;

/// <summary>A real three-server ensemble: the client survives the death of the server it is connected to.</summary>
[TestFixture]
[CancelAfter(120_000)]
public sealed class ZooKeeperEnsembleTests
{
    private static readonly TimeSpan Wait = TimeSpan.FromSeconds(30);
    private ZooKeeperEnsemble _ensemble = null!;

    [OneTimeSetUp]
    public async Task StartEnsemble() => _ensemble = await ZooKeeperEnsemble.StartAsync(3);

    [OneTimeTearDown]
    public async Task StopEnsemble()
    {
        if (_ensemble is not null) await _ensemble.DisposeAsync();
    }

    [Test]
    public async Task ClientMovesToAnotherServerKeepingSessionEphemeralsAndWatches()
    {
        await using var client = await ZooKeeperClient.ConnectAsync(new ZooKeeperClientOptions
        {
            ConnectString = _ensemble.ConnectString,
            SessionTimeout = TimeSpan.FromSeconds(15),
            ConnectTimeout = TimeSpan.FromSeconds(1),
        }, new ProgressLogger("zk"));
        long session = client.SessionId;
        string victimEndpoint = client.CurrentServer!;
        var victim = _ensemble.ServerAt(victimEndpoint);
        TestContext.Progress.WriteLine($"client on {victimEndpoint} ({await victim.ModeAsync()}), session {session:x}");

        string root = $"/ens-{Guid.NewGuid():N}";
        await client.CreateAsync(root, [], CreateMode.Persistent);
        string ephemeral = await client.CreateAsync(root + "/owner", [7], CreateMode.Ephemeral);
        await client.CreateAsync(root + "/watched", [0], CreateMode.Persistent);
        await client.GetDataAsync(root + "/watched", watch: true);
        var events = new BlockingCollection<WatchedEvent>();
        client.Watch += events.Add;
        var states = new BlockingCollection<ZooKeeperState>();
        client.StateChanged += states.Add;

        var inFlight = new List<Task>();
        for (int i = 0; i < 200; i++) inFlight.Add(client.CreateAsync($"{root}/n{i}", new byte[500], CreateMode.Persistent));
        await victim.StopAsync();

        var sw = Stopwatch.StartNew();
        int succeeded = 0, lost = 0;
        foreach (var op in inFlight)
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
        TestContext.Progress.WriteLine($"in flight at the kill: {succeeded} succeeded, {lost} ConnectionLoss, settled in {sw.Elapsed}");
        Assert.That(succeeded + lost, Is.EqualTo(inFlight.Count));

        Assert.That(TakeUntil(states, ZooKeeperState.Connected), Is.True, "client did not reconnect");
        Assert.That(client.SessionId, Is.EqualTo(session));
        Assert.That(client.CurrentServer, Is.Not.EqualTo(victimEndpoint));
        TestContext.Progress.WriteLine($"reconnected to {client.CurrentServer} after {sw.Elapsed}");

        var others = _ensemble.Servers.Where(s => s != victim).Select(s => s.ConnectString);
        await using var observer = await ZooKeeperClient.ConnectAsync(new ZooKeeperClientOptions
        {
            ConnectString = string.Join(',', others),
            ConnectTimeout = TimeSpan.FromSeconds(1),
        }, new ProgressLogger("observer"));
        await observer.SyncAsync(root);
        var stat = await observer.ExistsAsync(ephemeral);
        Assert.That(stat, Is.Not.Null, "the ephemeral must survive the move");
        Assert.That(stat!.EphemeralOwner, Is.EqualTo(session));

        // The data watch was re-registered on the new server (SetWatches).
        await observer.SetDataAsync(root + "/watched", [1]);
        Assert.That(events.TryTake(out var changed, Wait), Is.True, "re-registered watch did not fire");
        Assert.That(changed, Is.EqualTo(new WatchedEvent(WatchedEventType.NodeDataChanged, root + "/watched")));

        var (children, _) = await client.GetChildrenAsync(root);
        Assert.That(children, Has.Count.GreaterThanOrEqualTo(succeeded + 2), "every acknowledged create is in the tree");
        Assert.That(client.State, Is.EqualTo(ZooKeeperState.Connected));

        await victim.RestartAsync();
        await _ensemble.WaitUntilServingAsync();
    }

    [Test]
    [Category("Chaos")]
    public async Task CompareAndSetCounterStaysExactAcrossRepeatedServerKills()
    {
        int seed = TestSeed.Use();
        TestContext.Progress.WriteLine(TestSeed.Describe(seed));
        var random = new Random(seed);
        await using var client = await ZooKeeperClient.ConnectAsync(new ZooKeeperClientOptions
        {
            ConnectString = _ensemble.ConnectString,
            SessionTimeout = TimeSpan.FromSeconds(15),
            ConnectTimeout = TimeSpan.FromSeconds(1),
        }, new ProgressLogger("zk"));
        long session = client.SessionId;
        string counter = $"/counter-{Guid.NewGuid():N}";
        await client.CreateAsync(counter, BitConverter.GetBytes(0), CreateMode.Persistent);

        int acknowledged = 0, lost = 0;
        using var stop = new CancellationTokenSource();
        var writer = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                try
                {
                    var (data, stat) = await client.GetDataAsync(counter).WaitAsync(Wait);
                    int value = BitConverter.ToInt32(data);
                    await client.SetDataAsync(counter, BitConverter.GetBytes(value + 1), stat.Version).WaitAsync(Wait);
                    acknowledged++;
                }
                catch (ConnectionLossException)
                {
                    lost++;
                }
                catch (BadVersionException)
                {
                    // An update whose reply was lost was applied after all: read again.
                }
            }
        });

        for (int round = 0; round < 3; round++)
        {
            await Task.Delay(random.Next(100, 400));
            var victim = _ensemble.ServerAt(client.CurrentServer!);
            await victim.StopAsync();
            await Eventually.That(() => client.State == ZooKeeperState.Connected && client.CurrentServer != victim.ConnectString,
                Wait, "client moves to a live server");
            await victim.RestartAsync();
            await _ensemble.WaitUntilServingAsync();
        }
        await Task.Delay(200);
        stop.Cancel();
        await writer.WaitAsync(Wait);

        var (final, finalStat) = await client.GetDataAsync(counter);
        int total = BitConverter.ToInt32(final);
        TestContext.Progress.WriteLine($"acknowledged {acknowledged}, lost {lost}, counter {total}");
        Assert.That(client.SessionId, Is.EqualTo(session));
        Assert.That(acknowledged, Is.GreaterThan(0));
        Assert.That(total, Is.EqualTo(finalStat.Version), "every applied update went through compare-and-set");
        Assert.That(total, Is.InRange(acknowledged, acknowledged + lost), "acknowledged updates are never lost");
    }

    private static bool TakeUntil(BlockingCollection<ZooKeeperState> states, ZooKeeperState wanted)
    {
        while (states.TryTake(out var s, Wait))
            if (s == wanted) return true;
        return false;
    }
}
