using Microsoft.Extensions.Logging;
using Pulsarish.Bookie;
using Pulsarish.Ledgers;
using Pulsarish.Metadata;
using Pulsarish.Protocol.Metadata;
using Pulsarish.TestKit;

namespace Pulsarish.Ledgers.Tests.Real;

/// <summary>
/// Real in-process bookies (gRPC servers on 127.0.0.1, real storage on temp directories with fsync) registered in a
/// real metadata store (the embedded one unless a store is given, e.g. ZooKeeper), and ledger clients over gRPC.
/// </summary>
public sealed class RealBookieCluster : IAsyncDisposable
{
    private readonly TempDir _dir = new("ledgers");
    private readonly IMetadataStore _store;
    private readonly bool _ownsStore;
    private readonly List<LedgerClient> _clients = new();
    private readonly Dictionary<string, (BookieHost Server, BookieRegistry Registry, IMetadataStore Session)> _bookies = new();
    private int _next;

    private RealBookieCluster(IMetadataStore store, bool ownsStore)
    {
        _store = store;
        _ownsStore = ownsStore;
        MetadataStore = new LedgerMetadataStore(store);
        Registry = new BookieRegistry(store);
    }

    public LedgerMetadataStore MetadataStore { get; }
    public BookieRegistry Registry { get; }
    public IReadOnlyCollection<string> BookieIds => _bookies.Keys;

    /// <summary>
    /// Starts <paramref name="bookies"/> bookies. <paramref name="sessionFactory"/> gives each bookie its own metadata
    /// session (ephemeral registration); default: sessions of the embedded store.
    /// </summary>
    public static async Task<RealBookieCluster> StartAsync(int bookies, IMetadataStore? store = null,
        Func<Task<IMetadataStore>>? sessionFactory = null)
    {
        var embedded = store is null ? EmbeddedMetadataStore.CreateInMemory() : null;
        var cluster = new RealBookieCluster(store ?? embedded!, ownsStore: store is null);
        cluster._sessionFactory = sessionFactory ?? (() => Task.FromResult<IMetadataStore>(embedded!.CreateSession()));
        for (int i = 0; i < bookies; i++)
        {
            await cluster.StartBookieAsync();
        }
        return cluster;
    }

    private Func<Task<IMetadataStore>> _sessionFactory = null!;

    private readonly Dictionary<string, FaultProxy> _proxies = new();

    /// <summary>The proxy a bookie started with <c>behindProxy</c> is registered through.</summary>
    public FaultProxy Proxy(string bookieId) => _proxies[bookieId];

    /// <summary>Starts one more bookie; <paramref name="behindProxy"/> registers it through a <see cref="FaultProxy"/>.</summary>
    public async Task<string> StartBookieAsync(string rack = "", bool behindProxy = false)
    {
        string id = $"bookie-{_next++}";
        var options = new BookieOptions
        {
            BookieId = id,
            Port = 0,
            JournalDir = _dir.Sub(id + "/journal"),
            LedgersDir = _dir.Sub(id + "/ledgers"),
            IndexDir = _dir.Sub(id + "/index"),
            ShutdownTimeout = TimeSpan.FromSeconds(2),
        };
        var server = await BookieHost.StartAsync(options, new BookieHostSetup
        {
            ConfigureLogging = logging => logging.SetMinimumLevel(LogLevel.Error),
        });
        string address = server.Address;
        if (behindProxy)
        {
            var proxy = new FaultProxy(server.EndPoint);
            _proxies[id] = proxy;
            address = proxy.Address;
        }
        var session = await _sessionFactory();
        var registry = new BookieRegistry(session);
        await registry.RegisterAsync(new BookieServiceInfo { BookieId = id, Address = address, Rack = rack });
        _bookies[id] = (server, registry, session);
        return id;
    }

    public BookieHost Server(string bookieId) => _bookies[bookieId].Server;

    /// <summary>Stops a bookie: its registration goes, then the server stops (in-flight calls finish, then refused).</summary>
    public async Task StopBookieAsync(string bookieId)
    {
        var (server, registry, session) = _bookies[bookieId];
        _bookies.Remove(bookieId);
        await registry.UnregisterAsync();
        await registry.DisposeAsync();
        await server.StopAsync();
        if (!ReferenceEquals(session, _store))
        {
            await session.DisposeAsync();
        }
    }

    /// <summary>A new ledger client (another "broker") with its own gRPC connections.</summary>
    public LedgerClient NewClient(LedgerClientOptions? options = null, Func<IBookieClient, IBookieClient>? wrap = null)
    {
        LedgerClient client;
        if (wrap is null)
        {
            client = LedgerClient.Create(MetadataStore, Registry, options);
        }
        else
        {
            options ??= new LedgerClientOptions();
            var directory = new RegistryBookieDirectory(Registry);
            client = new LedgerClient(new MetadataStoreLedgerManager(MetadataStore), directory,
                wrap(new GrpcBookieClient(directory, options)), options, ownsBookieClient: true);
        }
        _clients.Add(client);
        return client;
    }

    /// <summary>
    /// A ledger client that calls the bookies running now directly (<see cref="LocalBookieClient"/>, as the
    /// standalone broker does); bookies started later are reached over gRPC.
    /// </summary>
    public LedgerClient NewLocalClient(LedgerClientOptions? options = null)
    {
        var client = LedgerClient.Create(MetadataStore, Registry, options,
            localBookies: _bookies.Values.Select(b => b.Server.Local).ToList());
        _clients.Add(client);
        return client;
    }

    /// <summary>A raw gRPC bookie client (reads straight from one bookie).</summary>
    public GrpcBookieClient RawClient() => new(new RegistryBookieDirectory(Registry));

    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients)
        {
            await client.DisposeAsync();
        }
        foreach (var id in _bookies.Keys.ToList())
        {
            await StopBookieAsync(id);
        }
        foreach (var proxy in _proxies.Values)
        {
            proxy.Heal();
            await proxy.DisposeAsync();
        }
        await Registry.DisposeAsync();
        if (_ownsStore)
        {
            await _store.DisposeAsync();
        }
        _dir.Dispose();
    }
}
