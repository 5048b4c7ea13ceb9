using Microsoft.Extensions.Logging;
using Pulsarish.Bookie;
using Pulsarish.Ledgers;
using Pulsarish.Metadata;
using Pulsarish.Protocol.Metadata;
using Pulsarish.TestKit;

namespace Pulsarish.Broker.Tests;

/// <summary>
/// Three real in-process bookies (gRPC on 127.0.0.1, real storage with fsync in a temp directory) registered in a
/// durable embedded metadata store, shared by every test of the assembly (started once: <see cref="ClusterSetup"/>).
/// Each ledger client is one "broker"'s connection to the bookies.
/// </summary>
public sealed class BookieCluster : IAsyncDisposable
{
    private readonly TempDir _dir = new("broker");
    private readonly List<(BookieHost Server, BookieRegistry Registry, IMetadataStore Session)> _bookies = new();
    private readonly List<LedgerClient> _clients = new();
    private IMetadataStore _store = null!;
    private bool _ownsStore;
    private Func<Task<IMetadataStore>> _sessionFactory = null!;

    public IMetadataStore Store => _store;
    public LedgerMetadataStore LedgerMetadata { get; private set; } = null!;
    public BookieRegistry Registry { get; private set; } = null!;

    /// <summary>
    /// Starts <paramref name="bookies"/> bookies on <paramref name="store"/> (default: a durable embedded store in the
    /// cluster's directory); each bookie registers through its own session from <paramref name="sessionFactory"/>.
    /// </summary>
    public static async Task<BookieCluster> StartAsync(int bookies, IMetadataStore? store = null,
        Func<Task<IMetadataStore>>? sessionFactory = null)
    {
        var cluster = new BookieCluster();
        if (store is null)
        {
            var embedded = await EmbeddedMetadataStore.OpenAsync(cluster._dir.Sub("metadata"));
            cluster._store = embedded;
            cluster._ownsStore = true;
            cluster._sessionFactory = () => Task.FromResult<IMetadataStore>(embedded.CreateSession());
        }
        else
        {
            cluster._store = store;
            cluster._sessionFactory = sessionFactory ?? throw new ArgumentNullException(nameof(sessionFactory));
        }
        cluster.LedgerMetadata = new LedgerMetadataStore(cluster._store);
        cluster.Registry = new BookieRegistry(cluster._store);
        for (int i = 0; i < bookies; i++)
        {
            await cluster.StartBookieAsync();
        }
        return cluster;
    }

    private int _nextBookie;

    /// <summary>Starts one more bookie and registers it; returns its id.</summary>
    public async Task<string> StartBookieAsync()
    {
        string id = $"bookie-{_nextBookie++}";
        var server = await BookieHost.StartAsync(new BookieOptions
        {
            BookieId = id,
            Port = 0,
            JournalDir = _dir.Sub(id + "/journal"),
            LedgersDir = _dir.Sub(id + "/ledgers"),
            IndexDir = _dir.Sub(id + "/index"),
            ShutdownTimeout = TimeSpan.FromSeconds(2),
        }, new BookieHostSetup { ConfigureLogging = logging => logging.SetMinimumLevel(LogLevel.Error) });
        var session = await _sessionFactory();
        var registry = new BookieRegistry(session);
        await registry.RegisterAsync(new BookieServiceInfo { BookieId = id, Address = server.Address });
        _bookies.Add((server, registry, session));
        return id;
    }

    /// <summary>Ids of the running bookies.</summary>
    public IReadOnlyList<string> BookieIds => _bookies.Select(b => b.Server.BookieId).ToList();

    /// <summary>Stops a bookie: its registration goes, then its server (in-flight calls end, later ones fail).</summary>
    public async Task StopBookieAsync(string bookieId)
    {
        var index = _bookies.FindIndex(b => b.Server.BookieId == bookieId);
        var (server, registry, session) = _bookies[index];
        _bookies.RemoveAt(index);
        await registry.UnregisterAsync();
        await registry.DisposeAsync();
        await server.StopAsync();
        await session.DisposeAsync();
    }

    /// <summary>
    /// A new ledger client with its own gRPC connections and its own ledger-id generator (so it claims its own id
    /// ranges, as a separate broker process does), disposed with the cluster.
    /// </summary>
    public LedgerClient NewClient()
    {
        var client = LedgerClient.Create(new LedgerMetadataStore(_store), Registry, new LedgerClientOptions());
        lock (_clients)
        {
            _clients.Add(client);
        }
        return client;
    }

    /// <summary>Whether ledger metadata /ledgers/L&lt;id&gt; still exists.</summary>
    public async Task<bool> LedgerExistsAsync(long ledgerId) => await LedgerMetadata.ReadAsync(ledgerId) is not null;

    public async ValueTask DisposeAsync()
    {
        foreach (var client in _clients)
        {
            await client.DisposeAsync();
        }
        foreach (var (server, registry, session) in _bookies)
        {
            await registry.UnregisterAsync();
            await registry.DisposeAsync();
            await server.StopAsync();
            await session.DisposeAsync();
        }
        await Registry.DisposeAsync();
        if (_ownsStore)
        {
            await _store.DisposeAsync();
        }
        _dir.Dispose();
    }
}
