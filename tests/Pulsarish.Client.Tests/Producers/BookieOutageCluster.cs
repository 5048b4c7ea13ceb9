using Microsoft.Extensions.Logging;
using Pulsarish.Bookie;
using Pulsarish.Broker;
using Pulsarish.Broker.Server;
using Pulsarish.Ledgers;
using Pulsarish.Metadata;
using Pulsarish.Protocol.Metadata;
using Pulsarish.TestKit;

namespace Pulsarish.Client.Tests.Producers;

/// <summary>
/// A broker over real in-process bookies that it reaches over gRPC (not the standalone's local transport), so that
/// every bookie can be stopped — its server and its registration gone, as a crashed bookie process — and started
/// again on the same port, id and data: a storage outage the broker's clients live through.
/// </summary>
public sealed class BookieOutageCluster : IAsyncDisposable
{
    private readonly TempDir _dir = new("bookie-outage");
    private readonly List<BookieOptions> _bookieOptions = new();
    private readonly List<(BookieHost Server, BookieRegistry Registry, IMetadataStore Session)> _running = new();
    private EmbeddedMetadataStore _store = null!;
    private BookieRegistry _registry = null!;
    private LedgerClient _ledgers = null!;

    public BrokerHost Broker { get; private set; } = null!;

    public string Address => Broker.Address;

    public static async Task<BookieOutageCluster> StartAsync(int bookies)
    {
        var cluster = new BookieOutageCluster();
        try
        {
            cluster._store = await EmbeddedMetadataStore.OpenAsync(cluster._dir.Sub("metadata"));
            for (int i = 0; i < bookies; i++)
            {
                string id = $"outage-bookie-{i}";
                cluster._bookieOptions.Add(new BookieOptions
                {
                    BookieId = id,
                    BindAddress = "127.0.0.1",
                    Port = 0,
                    JournalDir = cluster._dir.Sub(id + "/journal"),
                    LedgersDir = cluster._dir.Sub(id + "/ledgers"),
                    IndexDir = cluster._dir.Sub(id + "/index"),
                    ShutdownTimeout = TimeSpan.FromSeconds(2),
                });
            }

            await cluster.StartBookiesAsync();
            cluster._registry = new BookieRegistry(cluster._store);
            cluster._ledgers = LedgerClient.Create(new LedgerMetadataStore(cluster._store), cluster._registry,
                new LedgerClientOptions { AddTimeout = TimeSpan.FromSeconds(3), BookieConnectTimeout = TimeSpan.FromSeconds(2) });
            cluster.Broker = await BrokerHost.StartAsync(new BrokerServerOptions { BindAddress = "127.0.0.1", Port = 0 },
                new BrokerOptions
                {
                    ManagedLedgerDefaultEnsembleSize = bookies,
                    ManagedLedgerDefaultWriteQuorum = bookies,
                    ManagedLedgerDefaultAckQuorum = bookies,
                },
                cluster._store, cluster._ledgers, new BrokerHostSetup { ConfigureLogging = Quiet });
            return cluster;
        }
        catch
        {
            await cluster.DisposeAsync();
            throw;
        }
    }

    private static void Quiet(ILoggingBuilder logging)
        => logging.SetMinimumLevel(LogLevel.Error).AddSimpleConsole(c => c.SingleLine = true);

    /// <summary>Starts every stopped bookie (the first time on a free port, later on the port it had).</summary>
    public async Task StartBookiesAsync()
    {
        for (int i = _running.Count; i < _bookieOptions.Count; i++)
        {
            var options = _bookieOptions[i];
            var server = await BookieHost.StartAsync(options, new BookieHostSetup { ConfigureLogging = Quiet });
            options.Port = server.EndPoint.Port;
            var session = _store.CreateSession();
            var registry = new BookieRegistry(session);
            await registry.RegisterAsync(new BookieServiceInfo { BookieId = options.BookieId, Address = server.Address });
            _running.Add((server, registry, session));
        }
    }

    /// <summary>Stops every bookie: registrations go, servers stop (in-flight adds fail, later ones find nobody).</summary>
    public async Task StopBookiesAsync()
    {
        foreach (var (server, registry, session) in _running)
        {
            await registry.UnregisterAsync();
            await registry.DisposeAsync();
            await server.StopAsync();
            await session.DisposeAsync();
        }

        _running.Clear();
    }

    public PulsarishClient NewClient() => new(new PulsarishClientOptions
    {
        ServiceUrls = [Address],
        OperationTimeout = TimeSpan.FromSeconds(20),
        InitialReconnectDelay = TimeSpan.FromMilliseconds(50),
        MaxReconnectDelay = TimeSpan.FromMilliseconds(500),
    });

    public async ValueTask DisposeAsync()
    {
        if (Broker is not null)
        {
            await Broker.StopAsync();
        }

        if (_ledgers is not null)
        {
            await _ledgers.DisposeAsync();
        }

        if (_registry is not null)
        {
            await _registry.DisposeAsync();
        }

        await StopBookiesAsync();
        if (_store is not null)
        {
            await _store.DisposeAsync();
        }

        _dir.Dispose();
    }
}
