using Google.Protobuf;
using Pulsarish.Protocol.Errors;
using Pulsarish.Metadata;
using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Metadata.Tests.Metadata;

/// <summary>Ledger metadata records: create/read/update/delete/list and validation of what is read back (in-memory store).</summary>
[TestFixture]
public sealed class LedgerMetadataStoreTests
{
    private EmbeddedMetadataStore _store = null!;
    private LedgerMetadataStore _ledgers = null!;

    [SetUp]
    public void Open()
    {
        _store = EmbeddedMetadataStore.CreateInMemory();
        _ledgers = new LedgerMetadataStore(_store);
    }

    [TearDown]
    public async Task Close() => await _store.DisposeAsync();

    [Test]
    public async Task CreateAllocatesDistinctIdsAndRecordsReadBackEqual()
    {
        var (a, va) = await _ledgers.CreateAsync(MetadataStoreContractTests.NewLedger(), CancellationToken.None);
        var (b, _) = await _ledgers.CreateAsync(MetadataStoreContractTests.NewLedger(), CancellationToken.None);
        Assert.That(a.LedgerId, Is.Not.EqualTo(b.LedgerId));
        Assert.That(va, Is.EqualTo(0));
        var (read, version) = (await _ledgers.ReadAsync(a.LedgerId, CancellationToken.None))!.Value;
        Assert.That(read, Is.EqualTo(a));
        Assert.That(version, Is.EqualTo(0));
        Assert.That(await _ledgers.ListAsync(CancellationToken.None), Is.EqualTo(new[] { a.LedgerId, b.LedgerId }.Order()));
        Assert.That(await _ledgers.ReadAsync(b.LedgerId + 1000, CancellationToken.None), Is.Null);
    }

    [Test]
    public async Task CloseRecordsLastEntryAndLengthAndClosesFromANewerVersionOfTheSameState()
    {
        var (created, version) = await _ledgers.CreateAsync(MetadataStoreContractTests.NewLedger(), CancellationToken.None);
        // An ensemble change moves the version on: the writer's close still applies (from OPEN).
        long moved = await _ledgers.UpdateAsync(created, version, CancellationToken.None);
        var (closed, closedVersion) = await _ledgers.CloseAsync(created.LedgerId, 4, 100, version, LedgerState.Open, CancellationToken.None);
        Assert.That((closed.State, closed.LastEntryId, closed.Length), Is.EqualTo((LedgerState.Closed, 4L, 100L)));
        Assert.That(closedVersion, Is.GreaterThan(moved));
        var read = (await _ledgers.ReadAsync(created.LedgerId, CancellationToken.None))!.Value;
        Assert.That(read.Metadata, Is.EqualTo(closed));
        // A repeated close with the same last entry is the same close.
        var again = await _ledgers.CloseAsync(created.LedgerId, 4, 100, version, LedgerState.Open, CancellationToken.None);
        Assert.That(again.Version, Is.EqualTo(closedVersion));
    }

    [Test]
    public async Task CloseFindingAnotherStateOrAnotherLastEntryIsFenced()
    {
        var (created, version) = await _ledgers.CreateAsync(MetadataStoreContractTests.NewLedger(), CancellationToken.None);
        var inRecovery = created.Clone();
        inRecovery.State = LedgerState.InRecovery;
        long recoveryVersion = await _ledgers.UpdateAsync(inRecovery, version, CancellationToken.None);
        Assert.ThrowsAsync<LedgerFencedException>(() => _ledgers.CloseAsync(created.LedgerId, 4, 100, version, LedgerState.Open, CancellationToken.None));
        await _ledgers.CloseAsync(created.LedgerId, 6, 150, recoveryVersion, LedgerState.InRecovery, CancellationToken.None);
        Assert.ThrowsAsync<LedgerFencedException>(() => _ledgers.CloseAsync(created.LedgerId, 4, 100, version, LedgerState.Open, CancellationToken.None));
        Assert.ThrowsAsync<NoSuchLedgerException>(() => _ledgers.CloseAsync(created.LedgerId + 1000, 4, 100, 0, LedgerState.Open, CancellationToken.None));
    }

    [Test]
    public async Task ListIgnoresNonLedgerChildrenOfTheLedgersRoot()
    {
        var (a, _) = await _ledgers.CreateAsync(MetadataStoreContractTests.NewLedger(), CancellationToken.None);
        await _store.PutAsync(MetadataPaths.AvailableBookie("b1"), new byte[] { 1 }, null);
        await _store.PutAsync(MetadataPaths.Cookie("b1"), new byte[] { 1 }, null);
        await _store.PutAsync(MetadataPaths.Ledgers + "/Lnot-a-number", new byte[] { 1 }, null);
        Assert.That(await _ledgers.ListAsync(CancellationToken.None), Is.EqualTo(new[] { a.LedgerId }));
    }

    [Test]
    public async Task UpdateIsACompareAndSetAndDeleteIsVersioned()
    {
        var (m, v0) = await _ledgers.CreateAsync(MetadataStoreContractTests.NewLedger(), CancellationToken.None);
        m.State = LedgerState.InRecovery;
        long v1 = await _ledgers.UpdateAsync(m, v0, CancellationToken.None);
        Assert.That(v1, Is.EqualTo(v0 + 1));
        m.State = LedgerState.Closed;
        Assert.ThrowsAsync<BadVersionException>(() => _ledgers.UpdateAsync(m, v0, CancellationToken.None));
        Assert.ThrowsAsync<BadVersionException>(() => _ledgers.DeleteAsync(m.LedgerId, v0, CancellationToken.None));
        await _ledgers.DeleteAsync(m.LedgerId, v1, CancellationToken.None);
        Assert.ThrowsAsync<NoSuchLedgerException>(() => _ledgers.UpdateAsync(m, v1, CancellationToken.None));
        Assert.ThrowsAsync<NoSuchLedgerException>(() => _ledgers.DeleteAsync(m.LedgerId, null, CancellationToken.None));
    }

    [Test]
    public async Task GarbageReadBackThrowsInvalidMetadata()
    {
        await _store.PutAsync(MetadataPaths.Ledger(900), new byte[] { 0xFF, 0xFF, 0xFF, 0x01, 0x02 }, null);
        var ex = Assert.ThrowsAsync<InvalidMetadataException>(() => _ledgers.ReadAsync(900, CancellationToken.None));
        Assert.That(ex!.Reason, Is.EqualTo("InvalidMetadata"));

        var otherId = MetadataStoreContractTests.NewLedger();
        otherId.LedgerId = 902;
        await _store.PutAsync(MetadataPaths.Ledger(901), otherId.ToByteArray(), null);
        Assert.ThrowsAsync<InvalidMetadataException>(() => _ledgers.ReadAsync(901, CancellationToken.None));
    }

    private static IEnumerable<TestCaseData> InvalidLedgers()
    {
        LedgerMetadata With(Action<LedgerMetadata> change)
        {
            var m = MetadataStoreContractTests.NewLedger();
            m.LedgerId = 910;
            change(m);
            return m;
        }
        yield return new TestCaseData(With(m => m.AckQuorum = 3)).SetName("RejectsAckQuorumAboveWriteQuorum");
        yield return new TestCaseData(With(m => m.WriteQuorum = 4)).SetName("RejectsWriteQuorumAboveEnsemble");
        yield return new TestCaseData(With(m => { m.AckQuorum = 0; })).SetName("RejectsZeroAckQuorum");
        yield return new TestCaseData(With(m => m.Fragments.Clear())).SetName("RejectsNoFragments");
        yield return new TestCaseData(With(m => m.Fragments[0].Bookies.RemoveAt(2))).SetName("RejectsEnsembleOfWrongSize");
        yield return new TestCaseData(With(m => m.Fragments[0].Bookies[2] = "b1")).SetName("RejectsRepeatedBookieInEnsemble");
        yield return new TestCaseData(With(m => m.Fragments[0].FirstEntryId = 5)).SetName("RejectsFirstFragmentNotAtZero");
        yield return new TestCaseData(With(m =>
        {
            m.Fragments.Add(new Fragment { FirstEntryId = 10, Bookies = { "b1", "b2", "b4" } });
            m.Fragments.Add(new Fragment { FirstEntryId = 7, Bookies = { "b1", "b5", "b4" } });
        })).SetName("RejectsUnorderedFragments");
        yield return new TestCaseData(With(m => { m.State = LedgerState.Closed; m.LastEntryId = -2; })).SetName("RejectsClosedWithBadLastEntry");
    }

    [TestCaseSource(nameof(InvalidLedgers))]
    public async Task InvalidMetadataIsRefusedOnWriteAndOnRead(LedgerMetadata invalid)
    {
        Assert.Throws<InvalidMetadataException>(() => LedgerMetadataValidator.Validate(invalid, "/test"));
        await _store.PutAsync(MetadataPaths.Ledger(invalid.LedgerId), invalid.ToByteArray(), null);
        Assert.ThrowsAsync<InvalidMetadataException>(() => _ledgers.ReadAsync(invalid.LedgerId, CancellationToken.None));
        Assert.ThrowsAsync<InvalidMetadataException>(() => _ledgers.UpdateAsync(invalid, 0, CancellationToken.None));
    }

    [Test]
    public async Task IdGeneratorRefusesACorruptCounter()
    {
        await _store.PutAsync(MetadataPaths.LedgerIdGenerator, new byte[] { 1, 2, 3 }, null);
        Assert.ThrowsAsync<InvalidMetadataException>(() => new LedgerIdGenerator(_store).NextAsync());
    }
}
