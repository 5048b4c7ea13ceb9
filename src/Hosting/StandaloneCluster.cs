using Microsoft.Extensions.Logging;
using Pulsarish.Bookie;
using Pulsarish.Bookie.Registration;
using Pulsarish.Broker;
using Pulsarish.Broker.Admin;
using Pulsarish.Broker.Errors;
using Pulsarish.Broker.Server;
using Pulsarish.Ledgers;
using Pulsarish.Metadata;
using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Hosting;

/// <summary>
/// Everything of a cluster in one process (DESIGN.md §1, <c>pulsarish standalone</c>): the embedded metadata store
/// in <c>&lt;data&gt;/metadata</c>, N bookies (own journal/ledgers/index directories under <c>&lt;data&gt;/bookie-i</c>,
/// each registered in its own metadata session and garbage-collected every <see cref="StandaloneOptions.GcInterval"/>),
/// one ledger client and one broker, plus the namespace <c>public/default</c> with the standalone persistence policy.
/// Restarting on the same directory finds all data. Also used in-process by tests.
/// </summary>
public sealed class StandaloneCluster : IAsyncDisposable
{
    private readonly IMetadataStore _store;
    private readonly List<StandaloneBookie> _bookies;
    private readonly BookieRegistry _registry;
    private readonly LedgerClient _ledgers;
    private readonly ILoggerFactory _loggerFactory;
    private readonly StandaloneOptions _options;
    private int _stopped;

    private StandaloneCluster(IMetadataStore store, List<StandaloneBookie> bookies,
        BookieRegistry registry, LedgerClient ledgers, BrokerHost broker, ILoggerFactory loggerFactory,
        StandaloneOptions options)
    {
        _options = options;
        _store = store;
        _bookies = bookies;
        _registry = registry;
        _ledgers = ledgers;
        Broker = broker;
        _loggerFactory = loggerFactory;
    }

    /// <summary>The broker (its <see cref="BrokerHost.Address"/> is what clients dial).</summary>
    public BrokerHost Broker { get; private set; }

    public string BrokerAddress => Broker.Address;

    public IMetadataStore MetadataStore => _store;

    public IReadOnlyList<BookieHost> Bookies => _bookies.ConvertAll(b => b.Server);

    /// <summary>The bookies' garbage collectors, in <see cref="Bookies"/> order (each also runs on its own timer).</summary>
    public IReadOnlyList<BookieGarbageCollector> GarbageCollectors => _bookies.ConvertAll(b => b.GarbageCollector);

    public static async Task<StandaloneCluster> StartAsync(StandaloneOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        string dataDir = Path.GetFullPath(options.DataDir);
        Directory.CreateDirectory(dataDir);
        var loggerFactory = LoggerFactory.Create(options.ConfigureLogging ?? (l => l.SetMinimumLevel(LogLevel.Warning).AddConsole()));
        var logger = loggerFactory.CreateLogger<StandaloneCluster>();
        var store = await MetadataStoreFactory.CreateAsync(
            MetadataStoreFactory.EmbeddedScheme + Path.Combine(dataDir, "metadata"), loggerFactory, ct: ct).ConfigureAwait(false);
        var bookies = new List<StandaloneBookie>();
        BookieRegistry? registry = null;
        LedgerClient? ledgers = null;
        try
        {
            for (int i = 0; i < options.Bookies; i++)
            {
                bookies.Add(await StartBookieAsync(store, dataDir, i, options, loggerFactory, ct).ConfigureAwait(false));
            }

            registry = new BookieRegistry(store);
            // The broker reaches its own bookies without the network (BookKeeper's local transport).
            ledgers = LedgerClient.Create(new LedgerMetadataStore(store), registry, options.LedgerClient, loggerFactory,
                options.LocalBookieTransport ? bookies.ConvertAll(b => b.Server.Local) : null);
            await EnsureNamespaceAsync(store, options, loggerFactory, ct).ConfigureAwait(false);
            var broker = await StartBrokerAsync(options, options.Port, store, ledgers, ct).ConfigureAwait(false);
            logger.LogInformation("Standalone on {DataDir}: {Bookies} bookies, broker {Address}", dataDir, bookies.Count, broker.Address);
            return new StandaloneCluster(store, bookies, registry, ledgers, broker, loggerFactory, options);
        }
        catch
        {
            if (ledgers is not null)
            {
                await ledgers.DisposeAsync().ConfigureAwait(false);
            }

            if (registry is not null)
            {
                await registry.DisposeAsync().ConfigureAwait(false);
            }

            foreach (var bookie in bookies)
            {
                await StopBookieAsync(bookie, store).ConfigureAwait(false);
            }

            await store.DisposeAsync().ConfigureAwait(false);
            loggerFactory.Dispose();
            throw;
        }
    }

    private static Task<BrokerHost> StartBrokerAsync(StandaloneOptions options, int port, IMetadataStore store,
        LedgerClient ledgers, CancellationToken ct)
        => BrokerHost.StartAsync(new BrokerServerOptions
        {
            BindAddress = options.BindAddress,
            Port = port,
            MetricsPort = options.MetricsPort,
            MaxConcurrentStreamsPerConnection = options.MaxConcurrentStreamsPerConnection,
        }, options.Broker, store, ledgers, new BrokerHostSetup { ConfigureLogging = options.ConfigureLogging }, ct);

    /// <summary>
    /// Stops the broker gracefully (clients see their streams end) and starts a new one on the same port and data:
    /// what a broker restart looks like to clients.
    /// </summary>
    public async Task RestartBrokerAsync(CancellationToken ct = default)
    {
        int port = Broker.EndPoint.Port;
        await Broker.StopAsync().ConfigureAwait(false);
        Broker = await StartBrokerAsync(_options, port, _store, _ledgers, ct).ConfigureAwait(false);
    }

    private static async Task<StandaloneBookie> StartBookieAsync(IMetadataStore store, string dataDir, int index,
        StandaloneOptions options, ILoggerFactory loggerFactory, CancellationToken ct)
    {
        string id = $"standalone-bookie-{index}";
        string root = Path.Combine(dataDir, $"bookie-{index}");
        var server = await BookieHost.StartAsync(new BookieOptions
        {
            BookieId = id,
            BindAddress = options.BindAddress,
            Port = 0,
            JournalDir = Path.Combine(root, "journal"),
            LedgersDir = Path.Combine(root, "ledgers"),
            IndexDir = Path.Combine(root, "index"),
            ShutdownTimeout = TimeSpan.FromSeconds(5),
            DirectWrites = options.DirectWrites,
            // Minor compaction on every pass: nearly dead logs (a trimmed topic beside live cursor entries) go in minutes.
            MinorCompactionInterval = options.GcInterval,
            MajorCompactionInterval = options.MajorCompactionInterval,
        }, new BookieHostSetup { ConfigureLogging = options.ConfigureLogging }, ct).ConfigureAwait(false);
        try
        {
            // Each bookie registers in its own session, as separate processes would (ephemeral liveness, DESIGN §6).
            IMetadataStore session = store is EmbeddedMetadataStore embedded ? embedded.CreateSession() : store;
            var registry = new BookieRegistry(session);
            await registry.RegisterAsync(new BookieServiceInfo { BookieId = id, Address = server.Address }, ct)
                .ConfigureAwait(false);
            // The metadata side of GC in the bookie's own session, as a registered bookie runs it (BookieRegistration).
            var collector = new BookieGarbageCollector(server.Storage, new LedgerMetadataStore(session),
                loggerFactory.CreateLogger<BookieGarbageCollector>());
            var stopGc = new CancellationTokenSource();
            Task gcLoop = Task.Run(() => collector.RunAsync(options.GcInterval, stopGc.Token), CancellationToken.None);
            return new StandaloneBookie(server, registry, session, collector, stopGc, gcLoop);
        }
        catch
        {
            await server.StopAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>Tenant <c>public</c> and namespace <c>public/default</c> with the standalone persistence, if missing.</summary>
    private static async Task EnsureNamespaceAsync(IMetadataStore store, StandaloneOptions options,
        ILoggerFactory loggerFactory, CancellationToken ct)
    {
        var namespaces = new NamespaceService(store, loggerFactory.CreateLogger<NamespaceService>());
        if (await namespaces.GetTenantAsync("public", ct).ConfigureAwait(false) is null)
        {
            await namespaces.CreateTenantAsync("public", null, ct).ConfigureAwait(false);
        }

        try
        {
            await namespaces.GetPoliciesAsync("public", "default", ct).ConfigureAwait(false);
        }
        catch (NamespaceNotFoundException)
        {
            await namespaces.CreateNamespaceAsync("public", "default", new Policies
            {
                EnsembleSize = options.EnsembleSize,
                WriteQuorum = options.WriteQuorum,
                AckQuorum = options.AckQuorum,
            }, ct).ConfigureAwait(false);
        }
    }

    private static async Task StopBookieAsync(StandaloneBookie bookie, IMetadataStore store)
    {
        await bookie.StopGc.CancelAsync().ConfigureAwait(false);
        await bookie.GcLoop.ConfigureAwait(false);
        bookie.StopGc.Dispose();
        await bookie.Registry.UnregisterAsync().ConfigureAwait(false);
        await bookie.Registry.DisposeAsync().ConfigureAwait(false);
        await bookie.Server.StopAsync().ConfigureAwait(false);
        if (!ReferenceEquals(bookie.Session, store))
        {
            await bookie.Session.DisposeAsync().ConfigureAwait(false);
        }
    }

    /// <summary>Stops the broker (topics unloaded, cursors persisted), then the bookies, then the store. Idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        await Broker.StopAsync().ConfigureAwait(false);
        await _ledgers.DisposeAsync().ConfigureAwait(false);
        await _registry.DisposeAsync().ConfigureAwait(false);
        foreach (var bookie in _bookies)
        {
            await StopBookieAsync(bookie, _store).ConfigureAwait(false);
        }

        await _store.DisposeAsync().ConfigureAwait(false);
        _loggerFactory.Dispose();
    }

    /// <summary>One in-process bookie: its host, its registration session and its garbage-collection loop.</summary>
    private sealed record StandaloneBookie(BookieHost Server, BookieRegistry Registry, IMetadataStore Session,
        BookieGarbageCollector GarbageCollector, CancellationTokenSource StopGc, Task GcLoop);
}
