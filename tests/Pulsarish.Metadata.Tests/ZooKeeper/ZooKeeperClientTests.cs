using System.Collections.Concurrent;
using System.Text;
using Pulsarish.Protocol.Errors;
using Pulsarish.Metadata.ZooKeeper;
using Pulsarish.TestKit;

namespace Pulsarish.Metadata.Tests.ZooKeeper;

/// <summary>Operations, watches and chroot against one real standalone server shared by the fixture.</summary>
[TestFixture]
[CancelAfter(60_000)]
public sealed class ZooKeeperClientTests
{
    private static readonly TimeSpan EventWait = TimeSpan.FromSeconds(10);
    private ZooKeeperServer _server = null!;
    private ZooKeeperClient _client = null!;
    private string _root = null!;

    [OneTimeSetUp]
    public async Task StartServer()
    {
        _server = await ZooKeeperServer.StartAsync();
        _client = await Connect(_server.ConnectString);
    }

    [OneTimeTearDown]
    public async Task StopServer()
    {
        if (_client is not null) await _client.DisposeAsync();
        if (_server is not null) await _server.DisposeAsync();
    }

    [SetUp]
    public async Task FreshRoot()
    {
        _root = "/t-" + Guid.NewGuid().ToString("N")[..12];
        await _client.CreateAsync(_root, [], CreateMode.Persistent);
    }

    private static Task<ZooKeeperClient> Connect(string connectString, TimeSpan? sessionTimeout = null) =>
        ZooKeeperClient.ConnectAsync(new ZooKeeperClientOptions
        {
            ConnectString = connectString,
            SessionTimeout = sessionTimeout ?? TimeSpan.FromSeconds(10),
        }, new ProgressLogger("zk"));

    private static byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);

    [Test]
    public async Task HandshakeNegotiatesSessionWithinServerBounds()
    {
        Assert.That(_client.SessionId, Is.Not.Zero);
        Assert.That(_client.State, Is.EqualTo(ZooKeeperState.Connected));
        Assert.That(_client.NegotiatedTimeout, Is.EqualTo(TimeSpan.FromSeconds(10)));
        await using var shortSession = await Connect(_server.ConnectString, TimeSpan.FromMilliseconds(50));
        // The server raises a too-short request to its minSessionTimeout (2 ticks).
        Assert.That(shortSession.NegotiatedTimeout, Is.EqualTo(TimeSpan.FromMilliseconds(2 * ZooKeeperServer.TickTimeMillis)));
        Assert.That(shortSession.SessionId, Is.Not.EqualTo(_client.SessionId));
    }

    [Test]
    public async Task CreateGetSetDeleteWithVersions()
    {
        string path = _root + "/node";
        var (created, stat0) = await _client.Create2Async(path, Bytes("v0"), CreateMode.Persistent);
        Assert.That(created, Is.EqualTo(path));
        Assert.That(stat0.Version, Is.Zero);
        Assert.That(stat0.DataLength, Is.EqualTo(2));
        Assert.That(stat0.EphemeralOwner, Is.Zero);

        var (data, stat) = await _client.GetDataAsync(path);
        Assert.That(Encoding.UTF8.GetString(data), Is.EqualTo("v0"));
        Assert.That(stat, Is.EqualTo(stat0));

        var stat1 = await _client.SetDataAsync(path, Bytes("v1"), version: 0);
        Assert.That(stat1.Version, Is.EqualTo(1));
        Assert.That(stat1.Mzxid, Is.GreaterThan(stat0.Mzxid));
        Assert.ThrowsAsync<BadVersionException>(() => _client.SetDataAsync(path, Bytes("stale"), version: 0));
        Assert.ThrowsAsync<NodeExistsException>(() => _client.CreateAsync(path, [], CreateMode.Persistent));
        Assert.ThrowsAsync<BadVersionException>(() => _client.DeleteAsync(path, version: 0));
        Assert.That(Encoding.UTF8.GetString((await _client.GetDataAsync(path)).Data), Is.EqualTo("v1"));

        await _client.DeleteAsync(path, version: 1);
        Assert.That(await _client.ExistsAsync(path), Is.Null);
        var missing = Assert.ThrowsAsync<NoNodeException>(() => _client.GetDataAsync(path));
        Assert.That(missing!.Path, Is.EqualTo(path));
        Assert.ThrowsAsync<NoNodeException>(() => _client.DeleteAsync(path));
        Assert.ThrowsAsync<NoNodeException>(() => _client.SetDataAsync(path, []));
        Assert.ThrowsAsync<NoNodeException>(() => _client.CreateAsync(_root + "/no/parent", [], CreateMode.Persistent));
    }

    [Test]
    public async Task DeleteOfNodeWithChildrenFailsWithNotEmpty()
    {
        await _client.CreateAsync(_root + "/p", [], CreateMode.Persistent);
        await _client.CreateAsync(_root + "/p/c", [], CreateMode.Persistent);
        Assert.ThrowsAsync<NotEmptyException>(() => _client.DeleteAsync(_root + "/p"));
        await _client.DeleteAsync(_root + "/p/c");
        await _client.DeleteAsync(_root + "/p");
    }

    [Test]
    public async Task EmptyAndLargeDataRoundTrip()
    {
        await _client.CreateAsync(_root + "/empty", [], CreateMode.Persistent);
        Assert.That((await _client.GetDataAsync(_root + "/empty")).Data, Is.Empty);
        var large = new byte[900 * 1024];
        new Random(42).NextBytes(large);
        await _client.CreateAsync(_root + "/large", large, CreateMode.Persistent);
        Assert.That((await _client.GetDataAsync(_root + "/large")).Data, Is.EqualTo(large));
    }

    [Test]
    public async Task SequentialNodesGetIncreasingTenDigitSuffixes()
    {
        string a = await _client.CreateAsync(_root + "/seq-", Bytes("a"), CreateMode.PersistentSequential);
        string b = await _client.CreateAsync(_root + "/seq-", Bytes("b"), CreateMode.EphemeralSequential);
        Assert.That(a, Is.EqualTo(_root + "/seq-0000000000"));
        Assert.That(b, Is.EqualTo(_root + "/seq-0000000001"));
        Assert.That((await _client.ExistsAsync(b))!.EphemeralOwner, Is.EqualTo(_client.SessionId));
    }

    [Test]
    public async Task EphemeralNodeIsDeletedWhenItsSessionCloses()
    {
        await using var owner = await Connect(_server.ConnectString);
        string path = await owner.CreateAsync(_root + "/eph", Bytes("x"), CreateMode.Ephemeral);
        var stat = await _client.ExistsAsync(path);
        Assert.That(stat!.EphemeralOwner, Is.EqualTo(owner.SessionId));
        Assert.ThrowsAsync<MetadataStoreException>(() => owner.CreateAsync(path + "/child", [], CreateMode.Persistent),
            "ephemerals cannot have children");

        var deleted = new TaskCompletionSource<WatchedEvent>(TaskCreationOptions.RunContinuationsAsynchronously);
        _client.Watch += OnWatch;
        try
        {
            Assert.That(await _client.ExistsAsync(path, watch: true), Is.Not.Null);
            await owner.DisposeAsync();
            Assert.That(owner.State, Is.EqualTo(ZooKeeperState.Closed));
            var e = await deleted.Task.WaitAsync(EventWait);
            Assert.That(e.Type, Is.EqualTo(WatchedEventType.NodeDeleted));
            Assert.That(await _client.ExistsAsync(path), Is.Null);
        }
        finally
        {
            _client.Watch -= OnWatch;
        }
        Assert.ThrowsAsync<ObjectDisposedException>(() => owner.GetDataAsync(_root));

        void OnWatch(WatchedEvent e)
        {
            if (e.Path == path) deleted.TrySetResult(e);
        }
    }

    [Test]
    public async Task GetChildrenReturnsNamesAndParentStat()
    {
        foreach (var name in new[] { "b", "a", "c" }) await _client.CreateAsync($"{_root}/{name}", [], CreateMode.Persistent);
        var (children, stat) = await _client.GetChildrenAsync(_root);
        Assert.That(children, Is.EquivalentTo(new[] { "a", "b", "c" }));
        Assert.That(stat.NumChildren, Is.EqualTo(3));
        Assert.That(stat.Cversion, Is.EqualTo(3));
        Assert.ThrowsAsync<NoNodeException>(() => _client.GetChildrenAsync(_root + "/none"));
    }

    [Test]
    public async Task MultiAppliesAllOpsAndReturnsPerOpResults()
    {
        await _client.CreateAsync(_root + "/x", Bytes("0"), CreateMode.Persistent);
        await _client.CreateAsync(_root + "/gone", [], CreateMode.Persistent);
        var results = await _client.MultiAsync([
            Op.Check(_root + "/x", 0),
            Op.Create(_root + "/y", Bytes("y"), CreateMode.Persistent),
            Op.Create(_root + "/s-", [], CreateMode.PersistentSequential),
            Op.SetData(_root + "/x", Bytes("1"), 0),
            Op.Delete(_root + "/gone", 0),
        ]);
        Assert.That(results, Has.Count.EqualTo(5));
        Assert.That(results[0], Is.InstanceOf<OpResult.CheckResult>());
        var create = (OpResult.CreateResult)results[1];
        Assert.That(create.Path, Is.EqualTo(_root + "/y"));
        if (create.Stat is { } createdStat) Assert.That(createdStat.DataLength, Is.EqualTo(1));
        Assert.That(((OpResult.CreateResult)results[2]).Path, Is.EqualTo(_root + "/s-0000000003"), "the suffix is the parent cversion: x, gone, y came first");
        Assert.That(((OpResult.SetDataResult)results[3]).Stat.Version, Is.EqualTo(1));
        Assert.That(results[4], Is.InstanceOf<OpResult.DeleteResult>());
        Assert.That(await _client.ExistsAsync(_root + "/gone"), Is.Null);
    }

    [Test]
    public async Task MultiWithOneFailingOpAppliesNothing()
    {
        await _client.CreateAsync(_root + "/x", Bytes("0"), CreateMode.Persistent);
        var e = Assert.ThrowsAsync<BadVersionException>(() => _client.MultiAsync([
            Op.Create(_root + "/a", [], CreateMode.Persistent),
            Op.SetData(_root + "/x", Bytes("1"), 0),
            Op.Check(_root + "/x", 7),
            Op.Create(_root + "/b", [], CreateMode.Persistent),
        ]));
        Assert.That(e!.Path, Is.EqualTo(_root + "/x"));
        var results = ZooKeeperClient.GetMultiResults(e);
        Assert.That(results, Is.Not.Null);
        Assert.That(results!.Select(r => ((OpResult.ErrorResult)r).Error), Is.EqualTo(new[]
        {
            ZooKeeperErrorCode.Ok, ZooKeeperErrorCode.Ok, ZooKeeperErrorCode.BadVersion, ZooKeeperErrorCode.RuntimeInconsistency,
        }));
        Assert.That(await _client.ExistsAsync(_root + "/a"), Is.Null);
        Assert.That(await _client.ExistsAsync(_root + "/b"), Is.Null);
        var (data, stat) = await _client.GetDataAsync(_root + "/x");
        Assert.That(Encoding.UTF8.GetString(data), Is.EqualTo("0"));
        Assert.That(stat.Version, Is.Zero);

        Assert.ThrowsAsync<NodeExistsException>(() => _client.MultiAsync([
            Op.Create(_root + "/c", [], CreateMode.Persistent),
            Op.Create(_root + "/x", [], CreateMode.Persistent),
        ]));
        Assert.That(await _client.ExistsAsync(_root + "/c"), Is.Null);
    }

    [Test]
    public async Task PipelinedRequestsCompleteInOrderWithMatchingResults()
    {
        const int count = 500;
        var creates = new Task<string>[count];
        for (int i = 0; i < count; i++)
            creates[i] = _client.CreateAsync($"{_root}/n{i:D4}", Bytes(i.ToString()), CreateMode.Persistent);
        var paths = await Task.WhenAll(creates);
        for (int i = 0; i < count; i++) Assert.That(paths[i], Is.EqualTo($"{_root}/n{i:D4}"));
        var reads = new Task<(byte[] Data, ZkStat Stat)>[count];
        for (int i = 0; i < count; i++) reads[i] = _client.GetDataAsync($"{_root}/n{i:D4}");
        var all = await Task.WhenAll(reads);
        for (int i = 0; i < count; i++) Assert.That(Encoding.UTF8.GetString(all[i].Data), Is.EqualTo(i.ToString()));
        for (int i = 1; i < count; i++) Assert.That(all[i].Stat.Czxid, Is.GreaterThan(all[i - 1].Stat.Czxid));
    }

    [Test]
    public async Task DataAndChildWatchesFireOnceInServerOrder()
    {
        var events = new BlockingCollection<WatchedEvent>();
        _client.Watch += events.Add;
        try
        {
            string node = _root + "/w";
            Assert.That(await _client.ExistsAsync(node, watch: true), Is.Null);
            await _client.GetChildrenAsync(_root, watch: true);
            await _client.CreateAsync(node, Bytes("0"), CreateMode.Persistent);
            await _client.GetDataAsync(node, watch: true);
            await _client.SetDataAsync(node, Bytes("1"));
            await _client.SetDataAsync(node, Bytes("2"));
            await _client.CreateAsync(_root + "/other", [], CreateMode.Persistent);
            await _client.GetDataAsync(node, watch: true);
            await _client.GetChildrenAsync(_root, watch: true);
            await _client.DeleteAsync(node);
            await _client.SyncAsync(_root);

            var expected = new[]
            {
                new WatchedEvent(WatchedEventType.NodeCreated, node),
                new WatchedEvent(WatchedEventType.NodeChildrenChanged, _root),
                new WatchedEvent(WatchedEventType.NodeDataChanged, node),
                new WatchedEvent(WatchedEventType.NodeDeleted, node),
                new WatchedEvent(WatchedEventType.NodeChildrenChanged, _root),
            };
            var seen = new List<WatchedEvent>();
            while (seen.Count < expected.Length && events.TryTake(out var e, EventWait)) seen.Add(e);
            Assert.That(seen, Is.EqualTo(expected));
            // One-shot: later changes without a new watch fire nothing.
            await _client.CreateAsync(node, [], CreateMode.Persistent);
            await _client.SetDataAsync(node, Bytes("3"));
            Assert.That(events.TryTake(out var extra, TimeSpan.FromMilliseconds(300)), Is.False, $"unexpected {extra}");
        }
        finally
        {
            _client.Watch -= events.Add;
        }
    }

    [Test]
    public async Task SlowWatchHandlerDoesNotBlockReplies()
    {
        using var release = new ManualResetEventSlim();
        var handled = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        Action<WatchedEvent> slow = e =>
        {
            if (!e.Path.StartsWith(_root, StringComparison.Ordinal)) return;
            release.Wait(TimeSpan.FromSeconds(20));
            handled.TrySetResult();
        };
        _client.Watch += slow;
        try
        {
            await _client.ExistsAsync(_root + "/slow", watch: true);
            await _client.CreateAsync(_root + "/slow", [], CreateMode.Persistent);
            // The handler is now blocked on the dispatch loop; replies keep flowing.
            for (int i = 0; i < 20; i++)
                await _client.SetDataAsync(_root + "/slow", Bytes(i.ToString())).WaitAsync(TimeSpan.FromSeconds(5));
            Assert.That(handled.Task.IsCompleted, Is.False);
            release.Set();
            await handled.Task.WaitAsync(EventWait);
        }
        finally
        {
            release.Set();
            _client.Watch -= slow;
        }
    }

    [Test]
    public async Task ChrootPrefixesRequestsAndStripsRepliesAndWatchPaths()
    {
        await using var chrooted = await Connect(_server.ConnectString + _root);
        var events = new BlockingCollection<WatchedEvent>();
        chrooted.Watch += events.Add;

        Assert.That(await chrooted.ExistsAsync("/"), Is.Not.Null);
        Assert.That(await chrooted.ExistsAsync("/a", watch: true), Is.Null);
        Assert.That(await chrooted.CreateAsync("/a", Bytes("in"), CreateMode.Persistent), Is.EqualTo("/a"));
        Assert.That(await chrooted.CreateAsync("/a/s-", [], CreateMode.EphemeralSequential), Is.EqualTo("/a/s-0000000000"));
        Assert.That((await _client.GetDataAsync(_root + "/a")).Data, Is.EqualTo(Bytes("in")));
        Assert.That((await chrooted.GetChildrenAsync("/", watch: true)).Children, Is.EqualTo(new[] { "a" }));
        var multi = await chrooted.MultiAsync([Op.Create("/m-", [], CreateMode.PersistentSequential)]);
        Assert.That(((OpResult.CreateResult)multi[0]).Path, Does.Match("^/m-[0-9]{10}$"));

        Assert.That(events.TryTake(out var created, EventWait), Is.True);
        Assert.That(created, Is.EqualTo(new WatchedEvent(WatchedEventType.NodeCreated, "/a")));
        Assert.That(events.TryTake(out var children, EventWait), Is.True);
        Assert.That(children, Is.EqualTo(new WatchedEvent(WatchedEventType.NodeChildrenChanged, "/")));
    }

    [Test]
    public void InvalidPathsAreRejectedBeforeSending()
    {
        Assert.ThrowsAsync<ArgumentException>(() => _client.GetDataAsync("relative"));
        Assert.ThrowsAsync<ArgumentException>(() => _client.GetDataAsync(_root + "/"));
        Assert.ThrowsAsync<ArgumentException>(() => _client.GetDataAsync(_root + "//x"));
        Assert.ThrowsAsync<ArgumentException>(() => _client.GetDataAsync(_root + "/../x"));
    }

    [Test]
    public async Task NodesWrittenByUsAreReadableWithZkCliAndViceVersa()
    {
        await _client.CreateAsync(_root + "/ours", Bytes("written-by-pulsarish"), CreateMode.Persistent);
        var (code, output) = await ZooKeeperCli.RunAsync(_server.ConnectString, "get", _root + "/ours");
        Assert.That(code, Is.Zero, output);
        Assert.That(output.Split('\n').Select(l => l.Trim()), Does.Contain("written-by-pulsarish"), output);

        (code, output) = await ZooKeeperCli.RunAsync(_server.ConnectString, "create", _root + "/theirs", "written-by-zkcli");
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.Contain("Created " + _root + "/theirs"));
        var (data, stat) = await _client.GetDataAsync(_root + "/theirs");
        Assert.That(Encoding.UTF8.GetString(data), Is.EqualTo("written-by-zkcli"));
        Assert.That(stat.Version, Is.Zero);

        (code, output) = await ZooKeeperCli.RunAsync(_server.ConnectString, "ls", _root);
        Assert.That(code, Is.Zero, output);
        Assert.That(output, Does.Contain("[ours, theirs]"));
    }
}
