using Microsoft.Extensions.Logging;
using Pulsarish.Broker.Ownership;
using Pulsarish.Hosting.Configuration;
using Pulsarish.Ledgers;
using Pulsarish.Metadata;

namespace Pulsarish.Hosting;

/// <summary>
/// One broker of a cluster (<c>pulsarish broker</c>): its metadata session, the bookie registry, the ledger client,
/// bundle ownership through ZooKeeper (DESIGN.md §7) with load reports, and the <see cref="BrokerHost"/> that serves.
/// <see cref="StopAsync"/> closes the topics first, then releases the bundles so that other brokers take them at once.
/// </summary>
public sealed class BrokerProcess : IAsyncDisposable
{
    private readonly ILoggerFactory _loggerFactory;
    private readonly IMetadataStore _store;
    private readonly BookieRegistry _bookies;
    private readonly LedgerClient _ledgers;
    private readonly ClusterOwnershipService _ownership;
    private int _stopped;

    private BrokerProcess(ILoggerFactory loggerFactory, IMetadataStore store, BookieRegistry bookies, LedgerClient ledgers,
        ClusterOwnershipService ownership, BrokerHost host)
    {
        _loggerFactory = loggerFactory;
        _store = store;
        _bookies = bookies;
        _ledgers = ledgers;
        _ownership = ownership;
        Host = host;
    }

    /// <summary>The serving broker.</summary>
    public BrokerHost Host { get; }

    /// <summary>"host:port" clients are redirected to.</summary>
    public string Address => Host.Address;

    /// <summary>Connects to the metadata store, registers and starts serving with the given settings.</summary>
    public static async Task<BrokerProcess> StartAsync(BrokerSettings settings, Action<ILoggingBuilder>? logging,
        CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var loggerFactory = LoggerFactory.Create(logging ?? (l => l.SetMinimumLevel(LogLevel.Warning).AddConsole()));
        IMetadataStore? store = null;
        BookieRegistry? bookies = null;
        LedgerClient? ledgers = null;
        ClusterOwnershipService? ownership = null;
        try
        {
            store = await MetadataStoreFactory.CreateAsync(settings.Metadata.Url, loggerFactory, settings.Metadata.SessionTimeout, ct)
                .ConfigureAwait(false);
            bookies = new BookieRegistry(store);
            ledgers = LedgerClient.Create(new LedgerMetadataStore(store), bookies, settings.LedgerClient, loggerFactory);
            var ownershipStore = store;
            var setup = new BrokerHostSetup
            {
                ConfigureLogging = logging,
                CreateOwnership = async (address, token) =>
                {
                    // The advertised address is known once the endpoint is bound (port 0 picks one).
                    settings.Ownership.AdvertisedAddress = address;
                    var service = new OwnershipService(ownershipStore, settings.Ownership, loggerFactory);
                    await service.StartAsync(token).ConfigureAwait(false);
                    ownership = new ClusterOwnershipService(service);
                    return ownership;
                },
            };
            var host = await BrokerHost.StartAsync(settings.Server, settings.Broker, store, ledgers, setup, ct).ConfigureAwait(false);
            var load = new BrokerLoadSampler(() => host.Service.LoadedTopics.Count, () => host.Metrics.MessagesIn.Value,
                () => host.Metrics.MessagesOut.Value);
            ownership!.Service.LoadProvider = load.Sample;
            return new BrokerProcess(loggerFactory, store, bookies, ledgers, ownership, host);
        }
        catch
        {
            if (ownership is not null) await ownership.DisposeAsync().ConfigureAwait(false);
            if (ledgers is not null) await ledgers.DisposeAsync().ConfigureAwait(false);
            if (bookies is not null) await bookies.DisposeAsync().ConfigureAwait(false);
            if (store is not null) await store.DisposeAsync().ConfigureAwait(false);
            loggerFactory.Dispose();
            throw;
        }
    }

    /// <summary>Graceful stop: topics closed, bundles released, sessions closed. Idempotent.</summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        await Host.StopAsync().ConfigureAwait(false);
        await _ownership.DisposeAsync().ConfigureAwait(false);
        await _ledgers.DisposeAsync().ConfigureAwait(false);
        await _bookies.DisposeAsync().ConfigureAwait(false);
        await _store.DisposeAsync().ConfigureAwait(false);
        _loggerFactory.Dispose();
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => new(StopAsync());
}
