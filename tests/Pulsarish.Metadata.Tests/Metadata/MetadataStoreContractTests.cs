using System.Collections.Concurrent;
using System.Text;
using Google.Protobuf;
using Pulsarish.Protocol.Errors;
using Pulsarish.Metadata;
using Pulsarish.Protocol.Metadata;
using Pulsarish.TestKit;

namespace Pulsarish.Metadata.Tests.Metadata;

/// <summary>
/// The one contract every <see cref="IMetadataStore"/> must meet (ZooKeeper semantics), run against the embedded
/// store and a real ZooKeeper server by the subclasses. Each test works under its own root path; sessions opened
/// with <see cref="OpenAsync"/> are closed after the test.
/// </summary>
public abstract class MetadataStoreContractTests
{
    private readonly List<IMetadataStore> _opened = new();

    /// <summary>A unique root for the running test.</summary>
    protected string Root { get; private set; } = "";

    /// <summary>A new session over the shared backing tree/server.</summary>
    protected abstract Task<IMetadataStore> CreateSessionAsync();

    /// <summary>Makes the session's server-side session expire (its ephemerals vanish); returns when it did.</summary>
    protected abstract Task ExpireSessionAsync(IMetadataStore session);

    protected async Task<IMetadataStore> OpenAsync()
    {
        var store = await CreateSessionAsync();
        lock (_opened) _opened.Add(store);
        return store;
    }

    [SetUp]
    public void CreateRoot() => Root = "/t-" + TestContext.CurrentContext.Test.MethodName + "-" + Guid.NewGuid().ToString("N")[..8];

    [TearDown]
    public async Task CloseSessions()
    {
        IMetadataStore[] opened;
        lock (_opened)
        {
            opened = _opened.ToArray();
            _opened.Clear();
        }
        foreach (var store in opened)
        {
            await store.DisposeAsync();
        }
    }

    private string P(string relative) => Root + relative;

    private static byte[] Bytes(string s) => Encoding.UTF8.GetBytes(s);

    private static string Text(GetResult? r) => r is null ? "<null>" : Encoding.UTF8.GetString(r.Value);

    [Test]
    public async Task PutThenGetReturnsTheValueAtVersionZero()
    {
        var store = await OpenAsync();
        var stat = await store.PutAsync(P("/a"), Bytes("v0"), null);
        var got = await store.GetAsync(P("/a"));
        Assert.That(stat.Version, Is.EqualTo(0));
        Assert.That(Text(got), Is.EqualTo("v0"));
        Assert.That(got!.Stat.Version, Is.EqualTo(0));
        Assert.That(got.Stat.Ephemeral, Is.False);
        Assert.That(await store.GetAsync(P("/missing")), Is.Null);
        Assert.That(await store.ExistsAsync(P("/a")), Is.True);
        Assert.That(await store.ExistsAsync(P("/missing")), Is.False);
    }

    [Test]
    public async Task UnconditionalPutOverwritesAndIncrementsTheVersion()
    {
        var store = await OpenAsync();
        await store.PutAsync(P("/a"), Bytes("v0"), null);
        var s1 = await store.PutAsync(P("/a"), Bytes("v1"), null);
        var s2 = await store.PutAsync(P("/a"), Bytes("v2"), null);
        Assert.That((s1.Version, s2.Version), Is.EqualTo((1L, 2L)));
        Assert.That(Text(await store.GetAsync(P("/a"))), Is.EqualTo("v2"));
    }

    [Test]
    public async Task PutExpectingAbsenceFailsWhenTheRecordExists()
    {
        var store = await OpenAsync();
        await store.PutAsync(P("/a"), Bytes("first"), -1);
        Assert.ThrowsAsync<NodeExistsException>(() => store.PutAsync(P("/a"), Bytes("second"), -1));
        Assert.That(Text(await store.GetAsync(P("/a"))), Is.EqualTo("first"));
    }

    [Test]
    public async Task CompareAndSetAppliesOnlyAtTheExpectedVersion()
    {
        var store = await OpenAsync();
        await store.PutAsync(P("/a"), Bytes("v0"), -1);
        var s1 = await store.PutAsync(P("/a"), Bytes("v1"), 0);
        Assert.That(s1.Version, Is.EqualTo(1));
        var stale = Assert.ThrowsAsync<BadVersionException>(() => store.PutAsync(P("/a"), Bytes("stale"), 0));
        Assert.That(stale!.Reason, Is.EqualTo("BadVersion"));
        var s2 = await store.PutAsync(P("/a"), Bytes("v2"), 1);
        Assert.That(s2.Version, Is.EqualTo(2));
        Assert.That(Text(await store.GetAsync(P("/a"))), Is.EqualTo("v2"));
    }

    [Test]
    public async Task CompareAndSetOnAMissingRecordThrowsNoNode()
    {
        var store = await OpenAsync();
        Assert.ThrowsAsync<NoNodeException>(() => store.PutAsync(P("/missing"), Bytes("x"), 0));
        Assert.That(await store.ExistsAsync(P("/missing")), Is.False);
    }

    [Test]
    public async Task PutAndCreateMakeMissingParents()
    {
        var store = await OpenAsync();
        await store.PutAsync(P("/x/y/z"), Bytes("deep"), null);
        string created = await store.CreateAsync(P("/p/q/r"), Bytes("c"), CreateOptions.None);
        Assert.That(created, Is.EqualTo(P("/p/q/r")));
        Assert.That(Text(await store.GetAsync(P("/x/y/z"))), Is.EqualTo("deep"));
        Assert.That(await store.ExistsAsync(P("/x/y")), Is.True);
        Assert.That(await store.GetChildrenAsync(P("/p")), Is.EqualTo(new[] { "q" }));
    }

    [Test]
    public async Task ConcurrentWritersCreateSharedMissingParentsWithoutErrors()
    {
        var sessions = new List<IMetadataStore>();
        for (int i = 0; i < 4; i++) sessions.Add(await OpenAsync());
        var writes = sessions.SelectMany((store, i) => Enumerable.Range(0, 5).Select(k =>
            k % 2 == 0
                ? (Task)store.PutAsync(P($"/shared/deep/parent/s{i}-k{k}"), Bytes("x"), null)
                : store.CreateAsync(P($"/shared/deep/parent/s{i}-k{k}"), Bytes("x"), CreateOptions.None)));
        await Task.WhenAll(writes);
        Assert.That(await sessions[0].GetChildrenAsync(P("/shared/deep/parent")), Has.Count.EqualTo(20));
    }

    [Test]
    public async Task CreateOfAnExistingPathThrowsNodeExists()
    {
        var store = await OpenAsync();
        await store.CreateAsync(P("/a"), Bytes("one"), CreateOptions.None);
        Assert.ThrowsAsync<NodeExistsException>(() => store.CreateAsync(P("/a"), Bytes("two"), CreateOptions.None));
        Assert.ThrowsAsync<NodeExistsException>(() => store.CreateAsync(P("/a"), Bytes("two"), CreateOptions.Ephemeral));
        Assert.That(Text(await store.GetAsync(P("/a"))), Is.EqualTo("one"));
    }

    [Test]
    public async Task SequentialCreatesGetIncreasingTenDigitSuffixes()
    {
        var store = await OpenAsync();
        var paths = new List<string>();
        for (int i = 0; i < 3; i++)
        {
            paths.Add(await store.CreateAsync(P("/q/item-"), Bytes($"{i}"), CreateOptions.Sequential));
        }
        await store.DeleteAsync(paths[2], null);
        paths.Add(await store.CreateAsync(P("/q/item-"), Bytes("3"), CreateOptions.Sequential | CreateOptions.Ephemeral));
        var suffixes = paths.Select(p => p[(P("/q/item-").Length)..]).ToList();
        Assert.That(suffixes, Has.All.Matches<string>(s => s.Length == 10 && s.All(char.IsAsciiDigit)));
        var numbers = suffixes.Select(long.Parse).ToList();
        Assert.That(numbers, Is.Ordered.Ascending);
        Assert.That(numbers, Is.Unique);
        Assert.That(numbers[3], Is.GreaterThan(numbers[2]), "a suffix is never reused after a delete");
        var children = await store.GetChildrenAsync(P("/q"));
        Assert.That(children, Is.EqualTo(new[] { paths[0], paths[1], paths[3] }.Select(MetadataPath.Name).ToArray()));
        Assert.That((await store.GetAsync(paths[3]))!.Stat.Ephemeral, Is.True);
    }

    [Test]
    public async Task DeleteChecksVersionExistenceAndEmptiness()
    {
        var store = await OpenAsync();
        await store.PutAsync(P("/a"), Bytes("v0"), null);
        await store.PutAsync(P("/a"), Bytes("v1"), null);
        Assert.ThrowsAsync<BadVersionException>(() => store.DeleteAsync(P("/a"), 0));
        Assert.ThrowsAsync<NoNodeException>(() => store.DeleteAsync(P("/missing"), null));
        await store.PutAsync(P("/parent/child"), Bytes("c"), null);
        Assert.ThrowsAsync<NotEmptyException>(() => store.DeleteAsync(P("/parent"), null));
        await store.DeleteAsync(P("/a"), 1);
        Assert.That(await store.ExistsAsync(P("/a")), Is.False);
        await store.DeleteAsync(P("/parent/child"), null);
        await store.DeleteAsync(P("/parent"), null);
        Assert.That(await store.ExistsAsync(P("/parent")), Is.False);
    }

    [Test]
    public async Task DeleteRecursiveRemovesTheWholeSubtree()
    {
        var store = await OpenAsync();
        await store.PutAsync(P("/tree/a/1"), Bytes("x"), null);
        await store.PutAsync(P("/tree/a/2"), Bytes("x"), null);
        await store.PutAsync(P("/tree/b"), Bytes("x"), null);
        await store.CreateAsync(P("/tree/b/e"), Bytes("x"), CreateOptions.Ephemeral);
        await store.PutAsync(P("/keep"), Bytes("x"), null);
        await store.DeleteRecursiveAsync(P("/tree"));
        Assert.That(await store.ExistsAsync(P("/tree")), Is.False);
        Assert.That(await store.ExistsAsync(P("/tree/a/1")), Is.False);
        Assert.That(await store.GetChildrenAsync(Root), Is.EqualTo(new[] { "keep" }));
        Assert.DoesNotThrowAsync(() => store.DeleteRecursiveAsync(P("/never-existed")));
    }

    [Test]
    public async Task GetChildrenListsNamesSortedAndMissingAsEmpty()
    {
        var store = await OpenAsync();
        foreach (string name in new[] { "b", "a", "c10", "c2" })
        {
            await store.PutAsync(P("/dir/" + name), Bytes(name), null);
        }
        await store.PutAsync(P("/dir/a/grandchild"), Bytes("g"), null);
        Assert.That(await store.GetChildrenAsync(P("/dir")), Is.EqualTo(new[] { "a", "b", "c10", "c2" }));
        Assert.That(await store.GetChildrenAsync(P("/nothing-here")), Is.Empty);
    }

    [Test]
    public async Task ExistsWatchFiresCreated()
    {
        var store = await OpenAsync();
        using var events = new MetadataEventRecorder(store);
        Assert.That(await store.ExistsAsync(P("/later")), Is.False);
        var writer = await OpenAsync();
        await writer.PutAsync(P("/later"), Bytes("now"), null);
        await events.WaitForAsync(NotificationType.Created, P("/later"));
    }

    [Test]
    public async Task GetWatchFiresModifiedThenDeleted()
    {
        var store = await OpenAsync();
        var writer = await OpenAsync();
        using var events = new MetadataEventRecorder(store);
        await writer.PutAsync(P("/w"), Bytes("v0"), null);
        Assert.That(Text(await store.GetAsync(P("/w"))), Is.EqualTo("v0"));
        await writer.PutAsync(P("/w"), Bytes("v1"), null);
        await events.WaitForAsync(NotificationType.Modified, P("/w"));
        Assert.That(Text(await store.GetAsync(P("/w"))), Is.EqualTo("v1"));
        await writer.DeleteAsync(P("/w"), null);
        await events.WaitForAsync(NotificationType.Deleted, P("/w"));
        var mine = events.Notifications.Where(n => n.Path == P("/w")).Select(n => n.Type).ToArray();
        Assert.That(mine, Is.EqualTo(new[] { NotificationType.Modified, NotificationType.Deleted }));
    }

    [Test]
    public async Task ChildWatchFiresChildrenChangedOnCreateAndDelete()
    {
        var store = await OpenAsync();
        var writer = await OpenAsync();
        using var events = new MetadataEventRecorder(store);
        await writer.PutAsync(P("/dir"), Bytes(""), null);
        Assert.That(await store.GetChildrenAsync(P("/dir")), Is.Empty);
        await writer.CreateAsync(P("/dir/child"), Bytes("c"), CreateOptions.None);
        await events.WaitForAsync(NotificationType.ChildrenChanged, P("/dir"));
        Assert.That(await store.GetChildrenAsync(P("/dir")), Is.EqualTo(new[] { "child" }));
        await writer.DeleteAsync(P("/dir/child"), null);
        await events.WaitForAsync(n => n.Type == NotificationType.ChildrenChanged && n.Path == P("/dir"), "second ChildrenChanged");
        var changes = events.Notifications.Count(n => n.Type == NotificationType.ChildrenChanged && n.Path == P("/dir"));
        Assert.That(await store.GetChildrenAsync(P("/dir")), Is.Empty);
        Assert.That(changes, Is.GreaterThanOrEqualTo(1));
    }

    [Test]
    public async Task WatchesAreOneShotUntilReadAgain()
    {
        var store = await OpenAsync();
        var writer = await OpenAsync();
        using var events = new MetadataEventRecorder(store);
        await writer.PutAsync(P("/once"), Bytes("v0"), null);
        await writer.PutAsync(P("/marker"), Bytes("m0"), null);
        await store.GetAsync(P("/once"));
        await writer.PutAsync(P("/once"), Bytes("v1"), null);
        await events.WaitForAsync(NotificationType.Modified, P("/once"));
        await writer.PutAsync(P("/once"), Bytes("v2"), null); // no watch armed: no notification
        await store.GetAsync(P("/marker"));
        await writer.PutAsync(P("/marker"), Bytes("m1"), null);
        // Notifications of a session arrive in order: once the marker's arrived, a second /once one would have too.
        await events.WaitForAsync(NotificationType.Modified, P("/marker"));
        Assert.That(events.Notifications.Count(n => n.Path == P("/once")), Is.EqualTo(1));
    }

    [Test]
    public async Task NotificationsArriveInCommitOrder()
    {
        var store = await OpenAsync();
        var writer = await OpenAsync();
        using var events = new MetadataEventRecorder(store);
        var paths = Enumerable.Range(0, 20).Select(i => P($"/order/k{i:D2}")).ToArray();
        foreach (string path in paths) await writer.PutAsync(path, Bytes("v0"), null);
        foreach (string path in paths) await store.GetAsync(path);
        var order = paths.OrderBy(_ => Guid.NewGuid()).ToArray();
        foreach (string path in order) await writer.PutAsync(path, Bytes("v1"), null);
        await events.WaitForAsync(NotificationType.Modified, order[^1]);
        var seen = events.Notifications.Where(n => n.Type == NotificationType.Modified).Select(n => n.Path).ToArray();
        Assert.That(seen, Is.EqualTo(order));
    }

    [Test]
    public async Task ListenerMayCallTheStoreFromItsCallback()
    {
        var store = await OpenAsync();
        var writer = await OpenAsync();
        await writer.PutAsync(P("/re"), Bytes("v0"), null);
        var readInCallback = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        using var registration = store.RegisterListener(n =>
        {
            if (n.Path != P("/re")) return;
            // Blocking on the store inside a callback only works when callbacks run outside the store's lock.
            var current = store.GetAsync(P("/re")).GetAwaiter().GetResult();
            readInCallback.TrySetResult(Text(current));
        });
        await store.GetAsync(P("/re"));
        await writer.PutAsync(P("/re"), Bytes("v1"), null);
        Assert.That(await readInCallback.Task.WaitAsync(MetadataEventRecorder.DefaultTimeout), Is.EqualTo("v1"));
    }

    [Test]
    public async Task EphemeralVanishesWhenItsSessionClosesAndAnotherSessionSeesIt()
    {
        var owner = await OpenAsync();
        var watcher = await OpenAsync();
        using var events = new MetadataEventRecorder(watcher);
        await owner.CreateAsync(P("/eph"), Bytes("alive"), CreateOptions.Ephemeral);
        var seen = await watcher.GetAsync(P("/eph"));
        Assert.That(seen!.Stat.Ephemeral, Is.True);
        await owner.DisposeAsync();
        await events.WaitForAsync(NotificationType.Deleted, P("/eph"));
        Assert.That(await watcher.ExistsAsync(P("/eph")), Is.False);
    }

    [Test]
    public async Task EphemeralVanishesOnSessionExpiryAndAnotherSessionSeesIt()
    {
        var owner = await OpenAsync();
        var watcher = await OpenAsync();
        using var ownerEvents = new MetadataEventRecorder(owner);
        using var events = new MetadataEventRecorder(watcher);
        await owner.CreateAsync(P("/eph"), Bytes("alive"), CreateOptions.Ephemeral);
        await owner.PutAsync(P("/persistent"), Bytes("stays"), null);
        Assert.That(await watcher.ExistsAsync(P("/eph")), Is.True);

        await ExpireSessionAsync(owner);

        await events.WaitForAsync(NotificationType.Deleted, P("/eph"));
        await ownerEvents.WaitForSessionEventAsync(SessionEvent.SessionReestablished);
        var lifecycle = ownerEvents.SessionEvents.Where(e => e is SessionEvent.SessionLost or SessionEvent.SessionReestablished);
        Assert.That(lifecycle, Is.EqualTo(new[] { SessionEvent.SessionLost, SessionEvent.SessionReestablished }));
        Assert.That(await watcher.ExistsAsync(P("/eph")), Is.False);
        Assert.That(Text(await owner.GetAsync(P("/persistent"))), Is.EqualTo("stays"));
        // The owner works on its new session and re-creates what it owns.
        await owner.CreateAsync(P("/eph"), Bytes("again"), CreateOptions.Ephemeral);
        Assert.That(Text(await watcher.GetAsync(P("/eph"))), Is.EqualTo("again"));
    }

    [Test]
    public async Task EphemeralRecordsNameTheSessionThatOwnsThemAndANewSessionHasANewId()
    {
        var owner = await OpenAsync();
        var other = await OpenAsync();
        long first = owner.SessionId;
        Assert.That(first, Is.Not.EqualTo(0));
        Assert.That(other.SessionId, Is.Not.EqualTo(first));
        await owner.CreateAsync(P("/eph"), Bytes("x"), CreateOptions.Ephemeral);
        string sequential = await owner.CreateAsync(P("/seq-"), Bytes("y"), CreateOptions.Ephemeral | CreateOptions.Sequential);
        await owner.PutAsync(P("/persistent"), Bytes("z"), null);
        Assert.That((await other.GetAsync(P("/eph")))!.Stat.EphemeralOwner, Is.EqualTo(first));
        Assert.That((await other.GetAsync(sequential))!.Stat.EphemeralOwner, Is.EqualTo(first));
        Assert.That((await other.GetAsync(P("/persistent")))!.Stat.EphemeralOwner, Is.EqualTo(0));

        await ExpireSessionAsync(owner);

        long second = owner.SessionId;
        Assert.That(second, Is.Not.EqualTo(first).And.Not.EqualTo(0));
        await owner.CreateAsync(P("/eph"), Bytes("again"), CreateOptions.Ephemeral);
        Assert.That((await other.GetAsync(P("/eph")))!.Stat.EphemeralOwner, Is.EqualTo(second));
    }

    [Test]
    public async Task BookieRegistry_ReplacesItsOwnRegistrationLeftByAnotherSessionAtOnce()
    {
        var oldSession = await OpenAsync();
        var bookieSession = await OpenAsync();
        string bookieId = "bookie-" + Guid.NewGuid().ToString("N")[..8];
        var info = new BookieServiceInfo { BookieId = bookieId, Address = "127.0.0.1:3181", InstanceId = "disks-1" };
        // A crashed predecessor with the same disks (cookie instance) left its registration; its session lives on.
        await oldSession.CreateAsync(MetadataPaths.AvailableBookie(bookieId), info.ToByteArray(), CreateOptions.Ephemeral);

        await using var registry = new BookieRegistry(bookieSession, staleRegistrationTimeout: TimeSpan.FromMinutes(1));
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await registry.RegisterAsync(info);

        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(10)), "no wait for the old session to expire");
        var record = await bookieSession.GetAsync(MetadataPaths.AvailableBookie(bookieId));
        Assert.That(record!.Stat.EphemeralOwner, Is.EqualTo(bookieSession.SessionId));
        await oldSession.DisposeAsync();
        Assert.That((await bookieSession.GetAsync(MetadataPaths.AvailableBookie(bookieId)))!.Stat.EphemeralOwner,
            Is.EqualTo(bookieSession.SessionId), "the registration outlives the old session");
    }

    [Test]
    public async Task BookieRegistry_WaitsOutAnotherInstancesRegistrationThenRefuses()
    {
        var otherSession = await OpenAsync();
        var bookieSession = await OpenAsync();
        string bookieId = "bookie-" + Guid.NewGuid().ToString("N")[..8];
        var foreign = new BookieServiceInfo { BookieId = bookieId, Address = "127.0.0.1:3181", InstanceId = "disks-1" };
        await otherSession.CreateAsync(MetadataPaths.AvailableBookie(bookieId), foreign.ToByteArray(), CreateOptions.Ephemeral);

        await using var registry = new BookieRegistry(bookieSession, staleRegistrationTimeout: TimeSpan.FromSeconds(1));
        var ex = Assert.ThrowsAsync<MetadataStoreException>(() => registry.RegisterAsync(
            new BookieServiceInfo { BookieId = bookieId, Address = "127.0.0.1:3182", InstanceId = "disks-2" }));
        Assert.That(ex!.Reason, Is.EqualTo("BookieAlreadyRegistered"));
        Assert.That((await bookieSession.GetAsync(MetadataPaths.AvailableBookie(bookieId)))!.Stat.EphemeralOwner,
            Is.EqualTo(otherSession.SessionId));
    }

    [Test]
    public async Task BookieRegistry_ReCreatesItsRegistrationWhenItIsDeleted()
    {
        var bookieSession = await OpenAsync();
        var adminSession = await OpenAsync();
        string bookieId = "bookie-" + Guid.NewGuid().ToString("N")[..8];
        await using var registry = new BookieRegistry(bookieSession);
        await registry.RegisterAsync(new BookieServiceInfo { BookieId = bookieId, Address = "127.0.0.1:3181" });

        await adminSession.DeleteAsync(MetadataPaths.AvailableBookie(bookieId), null);

        await WaitUntilAsync(async () => (await adminSession.GetAsync(MetadataPaths.AvailableBookie(bookieId)))?.Stat.EphemeralOwner
                                         == bookieSession.SessionId, "the bookie registered again under its session");
    }

    [Test]
    public async Task LedgerMetadataStore_ConcurrentCasUpdatersLoseNothing()
    {
        const int updaters = 8;
        const int markersEach = 5;
        var sessions = new List<IMetadataStore>();
        for (int i = 0; i < updaters; i++) sessions.Add(await OpenAsync());
        var creator = new LedgerMetadataStore(sessions[0]);
        var (created, v0) = await creator.CreateAsync(NewLedger(), CancellationToken.None);
        long ledgerId = created.LedgerId;
        var successes = new ConcurrentBag<(string Marker, long ReadVersion, long NewVersion)>();
        int conflicts = 0;

        var tasks = Enumerable.Range(0, updaters).Select(u => Task.Run(async () =>
        {
            var store = new LedgerMetadataStore(sessions[u]);
            for (int k = 0; k < markersEach; k++)
            {
                string marker = $"u{u}-m{k}";
                while (true)
                {
                    var (m, readVersion) = (await store.ReadAsync(ledgerId, CancellationToken.None))!.Value;
                    m.CustomMetadata[marker] = "1";
                    try
                    {
                        long newVersion = await store.UpdateAsync(m, readVersion, CancellationToken.None);
                        successes.Add((marker, readVersion, newVersion));
                        break;
                    }
                    catch (BadVersionException)
                    {
                        Interlocked.Increment(ref conflicts);
                    }
                }
            }
        })).ToArray();
        await Task.WhenAll(tasks);

        var (final, finalVersion) = (await creator.ReadAsync(ledgerId, CancellationToken.None))!.Value;
        TestContext.Out.WriteLine($"{successes.Count} updates, {conflicts} CAS conflicts");
        Assert.That(v0, Is.EqualTo(0));
        Assert.That(successes, Has.Count.EqualTo(updaters * markersEach));
        Assert.That(successes.All(s => s.NewVersion == s.ReadVersion + 1), Is.True, "each success was based on the version it read");
        Assert.That(successes.Select(s => s.NewVersion).OrderBy(v => v), Is.EqualTo(Enumerable.Range(1, updaters * markersEach).Select(v => (long)v)));
        Assert.That(finalVersion, Is.EqualTo(updaters * markersEach));
        Assert.That(final.CustomMetadata.Keys, Is.EquivalentTo(successes.Select(s => s.Marker)), "no successful update was lost");
    }

    [Test]
    public async Task LedgerIdGenerator_NeverRepeatsAnIdAcrossConcurrencyAndCrash()
    {
        var a = await OpenAsync();
        var b = await OpenAsync();
        var genA = new LedgerIdGenerator(a, rangeSize: 7);
        var genB = new LedgerIdGenerator(b, rangeSize: 7);
        var ids = new ConcurrentBag<long>();
        var tasks = new List<Task>();
        foreach (var gen in new[] { genA, genB, genA, genB })
        {
            tasks.Add(Task.Run(async () =>
            {
                for (int i = 0; i < 25; i++) ids.Add(await gen.NextAsync());
            }));
        }
        await Task.WhenAll(tasks);
        // "Crash" mid-range: genA is dropped with ids of its range unused; a new generator on a new session continues.
        ids.Add(await genA.NextAsync());
        var afterCrash = new LedgerIdGenerator(await OpenAsync(), rangeSize: 7);
        for (int i = 0; i < 20; i++) ids.Add(await afterCrash.NextAsync());

        Assert.That(ids, Has.Count.EqualTo(121));
        Assert.That(ids, Is.Unique);
        Assert.That(ids, Has.All.GreaterThan(0L));
    }

    [Test]
    public async Task LedgerIdGenerator_AnIdAboveAFloorFromAnotherGeneratorsRangeIsAboveIt()
    {
        var genA = new LedgerIdGenerator(await OpenAsync(), rangeSize: 10);
        var genB = new LedgerIdGenerator(await OpenAsync(), rangeSize: 10);
        long fromA = await genA.NextAsync();
        long fromB = await genB.NextAsync();
        Assert.That(fromB, Is.GreaterThan(fromA), "B claimed the next range");

        // A topic moved to B and back to A: A's next ledger must come after B's, although A's range is older.
        long next = await genA.NextAsync(aboveExclusive: fromB);
        Assert.That(next, Is.GreaterThan(fromB));
        Assert.That(await genA.NextAsync(), Is.EqualTo(next + 1), "the new range serves the following ids");
        Assert.That(await genB.NextAsync(aboveExclusive: fromA), Is.EqualTo(fromB + 1), "a floor below the range costs nothing");
    }

    [Test]
    public async Task LedgerMetadataStore_WatchReportsUpdatesAndDeletion()
    {
        var writerSession = await OpenAsync();
        var watcherSession = await OpenAsync();
        var writer = new LedgerMetadataStore(writerSession);
        var watcher = new LedgerMetadataStore(watcherSession);
        var (m, version) = await writer.CreateAsync(NewLedger(), CancellationToken.None);
        var changes = new ConcurrentQueue<long>();
        using (watcher.Watch(m.LedgerId, changes.Enqueue))
        {
            await WaitUntilAsync(() => changes.Count >= 1, "the call once the watch is armed");
            int armed = changes.Count;
            m.State = LedgerState.Closed;
            m.LastEntryId = 41;
            await writer.UpdateAsync(m, version, CancellationToken.None);
            await WaitUntilAsync(() => changes.Count > armed, "change after update");
            var (read, _) = (await watcher.ReadAsync(m.LedgerId, CancellationToken.None))!.Value;
            Assert.That(read.State, Is.EqualTo(LedgerState.Closed));
            int before = changes.Count;
            await writer.DeleteAsync(m.LedgerId, null, CancellationToken.None);
            await WaitUntilAsync(() => changes.Count > before, "change after delete");
        }
        Assert.That(changes, Has.All.EqualTo(m.LedgerId));
        Assert.That(await watcher.ReadAsync(m.LedgerId, CancellationToken.None), Is.Null);
        Assert.That(await watcher.ListAsync(CancellationToken.None), Does.Not.Contain(m.LedgerId));
    }

    [Test]
    public async Task BookieRegistry_ReRegistersAfterSessionExpiryAndWatchersSeeIt()
    {
        var bookieSession = await OpenAsync();
        var observerSession = await OpenAsync();
        string bookieId = "bookie-" + Guid.NewGuid().ToString("N")[..8];
        var observer = new BookieRegistry(observerSession);
        await using var registry = new BookieRegistry(bookieSession);
        await registry.RegisterAsync(new BookieServiceInfo { BookieId = bookieId, Address = "127.0.0.1:3181", Rack = "/r1" });
        Assert.That((await observer.GetAvailableAsync()).Select(b => b.BookieId), Does.Contain(bookieId));

        using var observerEvents = new MetadataEventRecorder(observerSession);
        using var bookieEvents = new MetadataEventRecorder(bookieSession);
        await ExpireSessionAsync(bookieSession);
        await observerEvents.WaitForAsync(NotificationType.Deleted, MetadataPaths.AvailableBookie(bookieId));
        await bookieEvents.WaitForSessionEventAsync(SessionEvent.SessionReestablished);
        await WaitUntilAsync(
            async () => (await observerSession.GetAsync(MetadataPaths.AvailableBookie(bookieId)))?.Stat.EphemeralOwner
                        == bookieSession.SessionId,
            "bookie registered again on its new session");

        await registry.RegisterAsync(new BookieServiceInfo { BookieId = bookieId, Address = "127.0.0.1:3181", ReadOnly = true });
        Assert.That((await observer.GetAvailableAsync()).Single(b => b.BookieId == bookieId).ReadOnly, Is.True);
        Assert.That((await observer.GetWritableAsync()).Select(b => b.BookieId), Does.Not.Contain(bookieId));
        await registry.UnregisterAsync();
        Assert.That((await observer.GetAvailableAsync()).Select(b => b.BookieId), Does.Not.Contain(bookieId));
    }

    [Test]
    public async Task BookieRegistry_WatchAvailableReportsJoinAndLeave()
    {
        var observerSession = await OpenAsync();
        var observer = new BookieRegistry(observerSession);
        int calls = 0;
        using var watch = observer.WatchAvailable(() => Interlocked.Increment(ref calls));
        await WaitUntilAsync(() => Volatile.Read(ref calls) >= 1, "the call once the watch is armed");
        int armed = Volatile.Read(ref calls);
        string bookieId = "bookie-" + Guid.NewGuid().ToString("N")[..8];
        var bookieSession = await OpenAsync();
        var registry = new BookieRegistry(bookieSession);
        await registry.RegisterAsync(new BookieServiceInfo { BookieId = bookieId, Address = "127.0.0.1:3182" });
        await WaitUntilAsync(() => Volatile.Read(ref calls) > armed, "join reported");
        int afterJoin = Volatile.Read(ref calls);
        await bookieSession.DisposeAsync();
        await WaitUntilAsync(() => Volatile.Read(ref calls) > afterJoin, "leave reported");
        Assert.That((await observer.GetAvailableAsync()).Select(b => b.BookieId), Does.Not.Contain(bookieId));
    }

    [Test]
    public async Task BookieRegistry_RefusesACookieOfOtherDisks()
    {
        var registry = new BookieRegistry(await OpenAsync());
        string bookieId = "bookie-" + Guid.NewGuid().ToString("N")[..8];
        var original = new Cookie
        {
            BookieId = bookieId, InstanceId = "instance-1", JournalDir = "/d/journal", LedgersDir = "/d/ledgers",
            IndexDir = "/d/index", LayoutVersion = 1,
        };
        await registry.VerifyOrCreateCookieAsync(original);
        Assert.DoesNotThrowAsync(() => registry.VerifyOrCreateCookieAsync(original.Clone(), localIsNew: false));

        var emptyDisks = original.Clone();
        emptyDisks.InstanceId = "instance-2";
        var ex = Assert.ThrowsAsync<InvalidCookieException>(() => registry.VerifyOrCreateCookieAsync(emptyDisks));
        Assert.That(ex!.Reason, Is.EqualTo("InvalidCookie"));

        var swapped = original.Clone();
        (swapped.JournalDir, swapped.LedgersDir) = (original.LedgersDir, original.JournalDir);
        Assert.ThrowsAsync<InvalidCookieException>(() => registry.VerifyOrCreateCookieAsync(swapped));

        var unknown = original.Clone();
        unknown.BookieId = bookieId + "-never-registered";
        Assert.ThrowsAsync<InvalidCookieException>(() => registry.VerifyOrCreateCookieAsync(unknown, localIsNew: false));
        Assert.That(await registry.ReadCookieAsync(unknown.BookieId), Is.Null);
    }

    internal static LedgerMetadata NewLedger() => new()
    {
        EnsembleSize = 3,
        WriteQuorum = 2,
        AckQuorum = 2,
        State = LedgerState.Open,
        LastEntryId = -1,
        Fragments = { new Fragment { FirstEntryId = 0, Bookies = { "b1", "b2", "b3" } } },
        CtimeMillis = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
    };

    internal static Task WaitUntilAsync(Func<bool> condition, string what) =>
        WaitUntilAsync(() => Task.FromResult(condition()), what);

    internal static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        await Eventually.That(condition, MetadataEventRecorder.DefaultTimeout, what);
    }
}
