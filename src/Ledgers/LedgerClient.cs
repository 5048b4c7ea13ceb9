using System.Security.Cryptography;
using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pulsarish.Protocol.Errors;
using Pulsarish.Metadata;
using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Ledgers;

/// <summary>
/// The BookKeeper client of Pulsarish (DESIGN.md §3-§4): creates ledgers on ensembles chosen by a placement policy,
/// opens them for reading or with recovery, and deletes them. Ledger metadata goes through an
/// <see cref="ILedgerManager"/>, bookie discovery through an <see cref="IBookieDirectory"/>, bookie traffic through
/// an <see cref="IBookieClient"/>. Thread-safe; one instance per process is enough.
/// </summary>
public sealed class LedgerClient : IAsyncDisposable
{
    /// <summary>Size of the random master key of a new ledger (BookKeeper uses a 20-byte SHA-1 digest).</summary>
    public const int MasterKeyBytes = 20;

    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly bool _ownsBookieClient;

    public LedgerClient(ILedgerManager ledgers, IBookieDirectory directory, IBookieClient bookies,
        LedgerClientOptions? options = null, ILoggerFactory? loggerFactory = null, bool ownsBookieClient = false)
    {
        Options = options ?? new LedgerClientOptions();
        Options.Validate();
        Ledgers = ledgers;
        Directory = directory;
        Bookies = bookies;
        _ownsBookieClient = ownsBookieClient;
        _loggerFactory = loggerFactory ?? NullLoggerFactory.Instance;
        _logger = _loggerFactory.CreateLogger<LedgerClient>();
        Reader = new LedgerReader(bookies, Options);
    }

    /// <summary>
    /// A client on the metadata store's typed stores: ledger metadata in <paramref name="ledgers"/>, bookies (and
    /// their addresses, from their registrations) in <paramref name="bookieRegistry"/>, bookie traffic over gRPC.
    /// </summary>
    /// <remarks>
    /// Bookies in <paramref name="localBookies"/> (bookies of this process, as in <c>pulsarish standalone</c>) are
    /// called directly (<see cref="LocalBookieClient"/>); every other bookie over gRPC.
    /// </remarks>
    public static LedgerClient Create(LedgerMetadataStore ledgers, BookieRegistry bookieRegistry,
        LedgerClientOptions? options = null, ILoggerFactory? loggerFactory = null,
        IEnumerable<ILocalBookie>? localBookies = null)
    {
        options ??= new LedgerClientOptions();
        var directory = new RegistryBookieDirectory(bookieRegistry);
        IBookieClient bookies = new GrpcBookieClient(directory, options, loggerFactory);
        if (localBookies is not null)
        {
            bookies = new LocalBookieClient(localBookies, bookies);
        }

        return new LedgerClient(new MetadataStoreLedgerManager(ledgers), directory, bookies, options, loggerFactory,
            ownsBookieClient: true);
    }

    public LedgerClientOptions Options { get; }
    internal ILedgerManager Ledgers { get; }
    internal IBookieDirectory Directory { get; }
    /// <summary>The bookie transport (shared with AutoRecovery-style tools that copy raw entries).</summary>
    public IBookieClient Bookies { get; }
    internal LedgerReader Reader { get; }

    /// <summary>
    /// Creates an OPEN ledger on <paramref name="ensembleSize"/> bookies with the given quorums
    /// (E ≥ Qw ≥ Qa ≥ 1, E ≤ 64, else <see cref="ArgumentException"/>); <see cref="NotEnoughBookiesException"/> when
    /// the placement cannot be met. The metadata gets a fresh ledger id and a random master key.
    /// The new id is above <paramref name="idAboveExclusive"/> (a managed ledger passes its last ledger's id).
    /// </summary>
    public async Task<LedgerHandle> CreateLedgerAsync(int ensembleSize, int writeQuorum, int ackQuorum,
        IPlacementPolicy? placement = null, IReadOnlyDictionary<string, string>? customMetadata = null,
        CancellationToken ct = default, long idAboveExclusive = 0)
    {
        if (ackQuorum < 1 || writeQuorum < ackQuorum || ensembleSize < writeQuorum)
        {
            throw new ArgumentException($"need E ≥ Qw ≥ Qa ≥ 1, got E={ensembleSize} Qw={writeQuorum} Qa={ackQuorum}");
        }
        if (ensembleSize > 64)
        {
            throw new ArgumentException($"ensemble size {ensembleSize} is above 64", nameof(ensembleSize));
        }
        placement ??= Options.PlacementPolicy;
        var available = await Directory.GetAvailableAsync(ct).ConfigureAwait(false);
        var ensemble = placement.NewEnsemble(ensembleSize, writeQuorum, ackQuorum, available, new HashSet<string>());
        if (ensemble.Count != ensembleSize)
        {
            throw new NotEnoughBookiesException($"placement returned {ensemble.Count} of {ensembleSize} bookies");
        }
        var metadata = new LedgerMetadata
        {
            EnsembleSize = ensembleSize,
            WriteQuorum = writeQuorum,
            AckQuorum = ackQuorum,
            State = LedgerState.Open,
            LastEntryId = -1,
            Length = 0,
            MasterKey = ByteString.CopyFrom(RandomNumberGenerator.GetBytes(MasterKeyBytes)),
            CtimeMillis = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
        };
        var fragment = new Fragment { FirstEntryId = 0 };
        fragment.Bookies.AddRange(ensemble);
        metadata.Fragments.Add(fragment);
        if (customMetadata is not null)
        {
            foreach (var (key, value) in customMetadata)
            {
                metadata.CustomMetadata[key] = value;
            }
        }
        var created = await Ledgers.CreateAsync(metadata, idAboveExclusive, ct).ConfigureAwait(false);
        _logger.LogInformation("Created ledger {LedgerId} E={E} Qw={Qw} Qa={Qa} on {Ensemble}",
            created.Metadata.LedgerId, ensembleSize, writeQuorum, ackQuorum, string.Join(",", ensemble));
        return new LedgerHandle(this, created, placement, _loggerFactory.CreateLogger<LedgerHandle>());
    }

    /// <summary>
    /// Opens a ledger with recovery (DESIGN.md §4): fences its bookies, recovers its tail and closes it. After this
    /// returns, no add of a previous writer can be acknowledged. Idempotent; racing callers agree on the content.
    /// </summary>
    public Task<ReadOnlyLedgerHandle> OpenWithRecoveryAsync(long ledgerId, CancellationToken ct = default)
        => new LedgerRecovery(this, _loggerFactory.CreateLogger<LedgerRecovery>()).RecoverAsync(ledgerId, ct);

    /// <summary>
    /// Opens a ledger for reading without fencing: a CLOSED ledger up to its last entry, an OPEN one up to the LAC
    /// its bookies report.
    /// </summary>
    public async Task<ReadOnlyLedgerHandle> OpenReadOnlyAsync(long ledgerId, CancellationToken ct = default)
    {
        var current = await Ledgers.ReadAsync(ledgerId, ct).ConfigureAwait(false) ?? throw new NoSuchLedgerException(ledgerId);
        var handle = new ReadOnlyLedgerHandle(this, current.Metadata, -1);
        if (!handle.IsClosed)
        {
            await handle.ReadLastAddConfirmedAsync(ct).ConfigureAwait(false);
        }
        return handle;
    }

    /// <summary>Deletes a ledger's metadata; bookies reclaim its entries by garbage collection.</summary>
    public async Task DeleteLedgerAsync(long ledgerId, CancellationToken ct = default)
    {
        try
        {
            await Ledgers.DeleteAsync(ledgerId, ct).ConfigureAwait(false);
        }
        catch (NoNodeException)
        {
            throw new NoSuchLedgerException(ledgerId);
        }
        _logger.LogInformation("Deleted ledger {LedgerId}", ledgerId);
    }

    public async ValueTask DisposeAsync()
    {
        if (_ownsBookieClient)
        {
            await Bookies.DisposeAsync().ConfigureAwait(false);
        }
    }
}
