using Pulsarish.Ledgers;
using Pulsarish.Metadata;

namespace Pulsarish.Ledgers.Tests.Fakes;

/// <summary>
/// A ledger client on in-memory bookies (<see cref="FakeBookieCluster"/>) and the real embedded metadata store
/// (in-memory tree) with the real <see cref="LedgerMetadataStore"/>.
/// </summary>
public sealed class FakeLedgerEnvironment : IAsyncDisposable
{
    private readonly EmbeddedMetadataStore _store;

    public FakeLedgerEnvironment(int bookies, LedgerClientOptions? options = null, int seed = 1, Func<int, string>? rackOf = null)
    {
        _store = EmbeddedMetadataStore.CreateInMemory();
        MetadataStore = new LedgerMetadataStore(_store);
        Ledgers = new MetadataStoreLedgerManager(MetadataStore);
        Cluster = new FakeBookieCluster(seed);
        for (int i = 0; i < bookies; i++)
        {
            Cluster.AddBookie($"bookie-{i}", rackOf?.Invoke(i) ?? "");
        }
        Options = options ?? new LedgerClientOptions();
        Client = NewClient();
    }

    public FakeBookieCluster Cluster { get; }
    public LedgerMetadataStore MetadataStore { get; }
    public MetadataStoreLedgerManager Ledgers { get; }
    public LedgerClientOptions Options { get; }
    public LedgerClient Client { get; }

    /// <summary>Another client (another "broker") on the same bookies and metadata.</summary>
    public LedgerClient NewClient() => new(Ledgers, Cluster, Cluster, Options);

    public async ValueTask DisposeAsync()
    {
        await Client.DisposeAsync();
        await _store.DisposeAsync();
    }
}
