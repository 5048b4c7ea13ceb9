using Pulsarish.Metadata;

namespace Pulsarish.Metadata.Tests.Metadata;

/// <summary>The metadata store contract on the durable embedded store (real files, real fsync).</summary>
[TestFixture]
public sealed class EmbeddedMetadataStoreContractTests : MetadataStoreContractTests
{
    private string _directory = "";
    private EmbeddedMetadataStore? _owner;

    [OneTimeSetUp]
    public async Task OpenTree()
    {
        _directory = Path.Combine(Path.GetTempPath(), "pulsarish-embedded-contract-" + Guid.NewGuid().ToString("N"));
        _owner = await EmbeddedMetadataStore.OpenAsync(_directory, new EmbeddedMetadataStoreOptions { SnapshotCount = 500 });
    }

    [OneTimeTearDown]
    public async Task CloseTree()
    {
        if (_owner is not null) await _owner.DisposeAsync();
        Directory.Delete(_directory, recursive: true);
    }

    protected override Task<IMetadataStore> CreateSessionAsync() => Task.FromResult<IMetadataStore>(_owner!.CreateSession());

    protected override Task ExpireSessionAsync(IMetadataStore session) => ((EmbeddedMetadataStore)session).ExpireSessionAsync();
}
