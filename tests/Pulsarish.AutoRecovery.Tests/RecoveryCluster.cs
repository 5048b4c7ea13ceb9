using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging;
using Pulsarish.Bookie;
using Pulsarish.Bookie.AutoRecovery;
using Pulsarish.Bookie.Registration;
using Pulsarish.Protocol.Checksums;
using Pulsarish.Ledgers;
using Pulsarish.Metadata;
using Pulsarish.Protocol.Metadata;
using Pulsarish.TestKit;
using StatusCode = Pulsarish.Protocol.Bookie.StatusCode;

namespace Pulsarish.AutoRecovery.Tests;

/// <summary>
/// A test cluster on the shared ZooKeeper under a fresh chroot: bookies in-process (registered through their own
/// <see cref="BookieRegistration"/>) or as real <c>pulsarish bookie</c> processes, AutoRecovery services each on its
/// own ZooKeeper session, a ledger client, and a raw gRPC client to read each bookie directly.
/// </summary>
public sealed class RecoveryCluster : IAsyncDisposable
{
    /// <summary>Session timeout of every session of the cluster (ZooKeeper tick 200 ms).</summary>
    public static readonly TimeSpan SessionTimeout = TimeSpan.FromSeconds(2);

    private readonly TempDir _dir = new("autorecovery");
    private readonly List<LedgerClient> _clients = new();
    private readonly List<(AutoRecoveryService Service, IMetadataStore Store)> _autoRecoveries = new();
    private readonly Dictionary<string, BookieHost> _inProcess = new(StringComparer.Ordinal);
    private readonly Dictionary<string, BookieProcess> _processes = new(StringComparer.Ordinal);

    private RecoveryCluster(string url, IMetadataStore store)
    {
        Url = url;
        Store = store;
        Ledgers = new LedgerMetadataStore(store);
        Registry = new BookieRegistry(store);
        Tasks = new UnderReplicationManager(store);
        Raw = new GrpcBookieClient(new RegistryBookieDirectory(Registry), FastClientOptions());
    }

    /// <summary>The metadata URL (ZooKeeper with this cluster's chroot).</summary>
    public string Url { get; }
    public IMetadataStore Store { get; }
    public LedgerMetadataStore Ledgers { get; }
    public BookieRegistry Registry { get; }
    public UnderReplicationManager Tasks { get; }
    public GrpcBookieClient Raw { get; }

    public static async Task<RecoveryCluster> StartAsync()
    {
        string url = $"zk:{SharedZooKeeper.Server.ConnectString}/ar-{Guid.NewGuid():N}";
        var store = await MetadataStoreFactory.CreateAsync(url, null, SessionTimeout);
        return new RecoveryCluster(url, store);
    }

    public static LedgerClientOptions FastClientOptions() => new()
    {
        AddTimeout = TimeSpan.FromSeconds(3),
        ReadTimeout = TimeSpan.FromSeconds(2),
        SpeculativeReadTimeout = TimeSpan.FromMilliseconds(300),
        BookieConnectTimeout = TimeSpan.FromSeconds(2),
    };

    /// <summary>AutoRecovery settings scaled for tests (short delays, frequent ticks).</summary>
    public static AutoRecoveryOptions FastOptions(TimeSpan? lostBookieDelay = null) => new()
    {
        LostBookieRecoveryDelay = lostBookieDelay ?? TimeSpan.FromSeconds(1),
        AuditTick = TimeSpan.FromMilliseconds(200),
        PeriodicCheckInterval = null,
        OpenLedgerRereplicationGracePeriod = TimeSpan.FromSeconds(2),
        FailedLedgerRetryDelay = TimeSpan.FromMilliseconds(300),
        TaskPollInterval = TimeSpan.FromMilliseconds(500),
        MaxConcurrentLedgers = 2,
        ClientOptions = FastClientOptions(),
    };

    public BookieRegistrationOptions RegistrationOptions(bool autoRecovery = false) => new()
    {
        MetadataUrl = Url,
        SessionTimeout = SessionTimeout,
        AutoRecoveryEnabled = autoRecovery,
        AutoRecovery = FastOptions(),
        StaleRegistrationTimeout = TimeSpan.FromSeconds(10),
    };

    public string BookieDir(string bookieId) => Path.Combine(_dir.Path, bookieId);

    /// <summary>An in-process bookie registered under <paramref name="bookieId"/>.</summary>
    public async Task<BookieHost> StartInProcessBookieAsync(string bookieId, Action<BookieOptions>? configure = null)
    {
        string dir = BookieDir(bookieId);
        var options = new BookieOptions
        {
            BookieId = bookieId,
            Port = 0,
            JournalDir = Path.Combine(dir, "journal"),
            LedgersDir = Path.Combine(dir, "ledgers"),
            IndexDir = Path.Combine(dir, "index"),
            ShutdownTimeout = TimeSpan.FromSeconds(2),
            Registration = RegistrationOptions(),
        };
        configure?.Invoke(options);
        var server = await BookieHost.StartAsync(options, new BookieHostSetup
        {
            ConfigureLogging = logging => logging.SetMinimumLevel(LogLevel.Warning).AddSimpleConsole(c => c.SingleLine = true),
        });
        _inProcess[bookieId] = server;
        return server;
    }

    /// <summary>Stops an in-process bookie (it unregisters first, as a crashed one's session would expire).</summary>
    public async Task StopInProcessBookieAsync(string bookieId)
    {
        var server = _inProcess[bookieId];
        _inProcess.Remove(bookieId);
        await server.StopAsync();
    }

    /// <summary>A real bookie process registered under <paramref name="bookieId"/> (2 s metadata session).</summary>
    public async Task<BookieProcess> StartProcessBookieAsync(string bookieId, bool autoRecovery, params string[] extraArgs)
    {
        var args = new List<string>
        {
            "--metadata-url", Url, "--bookie-id", bookieId,
            "--metadata-session-timeout-ms", ((int)SessionTimeout.TotalMilliseconds).ToString(),
            "--autorecovery", autoRecovery ? "true" : "false",
            "--lost-bookie-delay-ms", "1000", "--open-ledger-grace-ms", "2000", "--periodic-check-interval-ms", "0",
            "--log-level", "Information",
        };
        args.AddRange(extraArgs);
        var process = await BookieProcess.StartAsync(BookieDir(bookieId), args);
        _processes[bookieId] = process;
        return process;
    }

    public BookieProcess Process(string bookieId) => _processes[bookieId];

    /// <summary>AutoRecovery (auditor candidate + worker) on its own ZooKeeper session; dispose it with <see cref="StopAutoRecoveryAsync"/>.</summary>
    public async Task<AutoRecoveryService> StartAutoRecoveryAsync(string id, AutoRecoveryOptions options)
    {
        var store = await MetadataStoreFactory.CreateAsync(Url, null, SessionTimeout);
        var loggerFactory = LoggerFactory.Create(l => l.SetMinimumLevel(LogLevel.Information).AddSimpleConsole(c => c.SingleLine = true));
        var service = AutoRecoveryService.Start(store, options, id, null, loggerFactory);
        _autoRecoveries.Add((service, store));
        return service;
    }

    /// <summary>Stops an AutoRecovery service and closes its session (its candidate record and locks go).</summary>
    public async Task StopAutoRecoveryAsync(AutoRecoveryService service)
    {
        int index = _autoRecoveries.FindIndex(a => ReferenceEquals(a.Service, service));
        var (svc, store) = _autoRecoveries[index];
        _autoRecoveries.RemoveAt(index);
        await svc.DisposeAsync();
        await store.DisposeAsync();
    }

    public LedgerClient NewClient()
    {
        var client = LedgerClient.Create(Ledgers, Registry, FastClientOptions());
        _clients.Add(client);
        return client;
    }

    /// <summary>Writes <paramref name="count"/> entries to a new (E, Qw, Qa) ledger, closing it unless told otherwise.</summary>
    public async Task<(long LedgerId, List<string> Payloads, LedgerHandle Handle)> WriteLedgerAsync(LedgerClient client, int e, int qw,
        int qa, int count, bool close = true)
    {
        var handle = await client.CreateLedgerAsync(e, qw, qa);
        var payloads = new List<string>(count);
        for (int i = 0; i < count; i++)
        {
            string payload = $"L{handle.LedgerId}-E{i}-{new string('x', i % 50)}";
            payloads.Add(payload);
            await handle.AddAsync(Encoding.UTF8.GetBytes(payload));
        }
        if (close)
        {
            await handle.CloseAsync();
        }
        return (handle.LedgerId, payloads, handle);
    }

    /// <summary>Polls <paramref name="condition"/> until true; fails with <paramref name="what"/> after <paramref name="timeout"/>.</summary>
    public static async Task WaitUntilAsync(Func<Task<bool>> condition, TimeSpan timeout, string what)
    {
        var watch = Stopwatch.StartNew();
        while (!await condition())
        {
            if (watch.Elapsed > timeout)
            {
                Assert.Fail($"timed out after {timeout}: {what}");
            }
            await Task.Delay(100);
        }
        TestContext.Progress.WriteLine($"{what}: after {watch.Elapsed.TotalSeconds:F1} s");
    }

    /// <summary>Ids of the ledgers with <paramref name="bookieId"/> in some fragment.</summary>
    public async Task<bool> AnyLedgerReferencesAsync(string bookieId)
    {
        foreach (long id in await Ledgers.ListAsync())
        {
            var read = await Ledgers.ReadAsync(id);
            if (read is { } r && r.Metadata.Fragments.Any(f => f.Bookies.Contains(bookieId)))
            {
                return true;
            }
        }
        return false;
    }

    /// <summary>
    /// Reads every entry of the (closed) ledger from every bookie of its write set directly and checks digest and
    /// payload — the Qw-copies invariant — then reads it through the ledger client.
    /// </summary>
    public async Task AssertFullyReplicatedAsync(long ledgerId, IReadOnlyList<string> payloads)
    {
        var (metadata, _) = (await Ledgers.ReadAsync(ledgerId))!.Value;
        Assert.That(metadata.State, Is.EqualTo(LedgerState.Closed), $"ledger {ledgerId} closed");
        Assert.That(metadata.LastEntryId, Is.GreaterThanOrEqualTo(payloads.Count - 1L), $"ledger {ledgerId} keeps every acknowledged entry");
        var registered = (await Registry.GetAvailableAsync()).Select(b => b.BookieId).ToHashSet();
        for (int f = 0; f < metadata.Fragments.Count; f++)
        {
            var fragment = metadata.Fragments[f];
            Assert.That(fragment.Bookies.Distinct().Count(), Is.EqualTo(fragment.Bookies.Count), $"fragment {f} has distinct bookies");
            long last = FragmentRange.LastEntryId(metadata, f)!.Value;
            for (long entry = fragment.FirstEntryId; entry <= last; entry++)
            {
                for (int p = 0; p < metadata.WriteQuorum; p++)
                {
                    string bookie = fragment.Bookies[WriteSet.BookieIndex(entry, p, metadata.EnsembleSize)];
                    Assert.That(registered, Does.Contain(bookie), $"ledger {ledgerId} fragment {f} uses live bookies");
                    var read = await Raw.ReadEntryAsync(bookie, ledgerId, entry, false, ReadOnlyMemory<byte>.Empty);
                    Assert.That(read.Status, Is.EqualTo(StatusCode.Ok), $"{ledgerId}:{entry} on {bookie}");
                    Assert.That(EntryDigest.Verify(ledgerId, entry, read.Lac, read.Payload.Span, read.Digest), Is.True,
                        $"digest of {ledgerId}:{entry} on {bookie}");
                    if (entry < payloads.Count)
                    {
                        Assert.That(Encoding.UTF8.GetString(LedgerEntryFormat.Payload(read.Payload).Span), Is.EqualTo(payloads[(int)entry]),
                            $"payload of {ledgerId}:{entry} on {bookie}");
                    }
                }
            }
        }
        var reader = await NewClient().OpenReadOnlyAsync(ledgerId);
        var entries = await reader.ReadAsync(0, payloads.Count - 1);
        Assert.That(entries.Select(e => Encoding.UTF8.GetString(e.Payload.Span)), Is.EqualTo(payloads), $"ledger {ledgerId} readable");
    }

    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients)
        {
            await client.DisposeAsync();
        }
        foreach (var (service, store) in _autoRecoveries)
        {
            await service.DisposeAsync();
            await store.DisposeAsync();
        }
        foreach (var server in _inProcess.Values)
        {
            await server.StopAsync();
        }
        foreach (var process in _processes.Values)
        {
            if (TestContext.CurrentContext.Result.Outcome.Status == NUnit.Framework.Interfaces.TestStatus.Failed)
            {
                TestContext.Progress.WriteLine($"bookie pid {process.Pid} log tail:\n{Tail(process.Log, 4000)}");
            }
            await process.DisposeAsync();
        }
        await Raw.DisposeAsync();
        await Registry.DisposeAsync();
        await Store.DisposeAsync();
        _dir.Dispose();
    }

    private static string Tail(string text, int chars) => text.Length <= chars ? text : text[^chars..];
}
