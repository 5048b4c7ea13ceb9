using Pulsarish.Bookie.Server;
using Pulsarish.Bookie.Storage;
using Prometheus;
using Microsoft.Extensions.Logging;
using Pulsarish.Bookie.AutoRecovery;
using Pulsarish.Metadata;
using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Bookie.Registration;

/// <summary>
/// A bookie's life in the cluster metadata (DESIGN.md §6-§7), in two steps. <see cref="PrepareAsync"/> (before storage
/// opens): connects to the store, refuses a decommissioned id, and verifies the local cookie against the registered
/// one (creating both on first start) — swapped or empty disks under a known id throw
/// <see cref="InvalidCookieException"/>. <see cref="StartAsync"/> (once the server listens): registers ephemerally
/// under /ledgers/available with address, rack and read-only flag (re-registered after a new session, and whenever the
/// read-only flag flips), runs periodic garbage collection, and AutoRecovery when enabled.
/// </summary>
public sealed class BookieRegistration : IAsyncDisposable
{
    private readonly BookieRegistrationOptions _options;
    private readonly IMetadataStore _store;
    private readonly BookieRegistry _registry;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Task> _loops = new();
    private BookieState? _state;
    private BookieServiceInfo? _registered;
    private string _instanceId = "";
    private int _disposed;

    private BookieRegistration(string bookieId, BookieRegistrationOptions options, IMetadataStore store, ILoggerFactory loggerFactory)
    {
        BookieId = bookieId;
        _options = options;
        _store = store;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<BookieRegistration>();
        _registry = new BookieRegistry(store, options.StaleRegistrationTimeout, loggerFactory.CreateLogger<BookieRegistry>());
        Ledgers = new LedgerMetadataStore(store, logger: loggerFactory.CreateLogger<LedgerMetadataStore>());
    }

    public string BookieId { get; }

    /// <summary>The bookie's metadata session.</summary>
    public IMetadataStore Store => _store;

    public LedgerMetadataStore Ledgers { get; }

    /// <summary>The garbage collector (once started).</summary>
    public BookieGarbageCollector? GarbageCollector { get; private set; }

    /// <summary>AutoRecovery running in this bookie, or null.</summary>
    public AutoRecoveryService? AutoRecovery { get; private set; }

    /// <summary>The bookie id a registered bookie uses: the configured one, else "bindAddress:port" (port must be fixed).</summary>
    public static string ResolveBookieId(BookieOptions options)
    {
        if (!string.IsNullOrEmpty(options.BookieId))
        {
            return options.BookieId;
        }
        if (options.Port == 0)
        {
            throw new ArgumentException("a bookie registered in metadata needs --bookie-id or a fixed --port (its cookie names its id)");
        }
        return $"{options.BindAddress}:{options.Port}";
    }

    /// <summary>Connects and checks identity; throws <see cref="InvalidCookieException"/> when the bookie must not start.</summary>
    public static async Task<BookieRegistration> PrepareAsync(BookieOptions options, BookieRegistrationOptions registration,
        ILoggerFactory loggerFactory, CancellationToken ct = default)
    {
        registration.Validate();
        string bookieId = ResolveBookieId(options);
        var store = await MetadataStoreFactory.CreateAsync(registration.MetadataUrl, loggerFactory, registration.SessionTimeout, ct)
            .ConfigureAwait(false);
        var result = new BookieRegistration(bookieId, registration, store, loggerFactory);
        try
        {
            if (await store.ExistsAsync(AutoRecoveryPaths.DecommissionedBookie(bookieId), ct).ConfigureAwait(false))
            {
                throw new InvalidCookieException(bookieId, "this bookie id was decommissioned; start the bookie under a new id");
            }
            var (cookie, isNew) = CookieFile.LoadOrCreate(bookieId, options.JournalDir, options.LedgersDir, options.IndexDir);
            await result._registry.VerifyOrCreateCookieAsync(cookie, isNew, ct).ConfigureAwait(false);
            if (isNew)
            {
                CookieFile.WriteAll(cookie);
            }
            result._instanceId = cookie.InstanceId;
            result._logger.LogInformation("Cookie of bookie {BookieId} verified (instance {InstanceId})", bookieId, cookie.InstanceId);
            return result;
        }
        catch
        {
            await result.DisposeAsync().ConfigureAwait(false);
            throw;
        }
    }

    /// <summary>
    /// Registers the listening bookie (at <paramref name="address"/>) and starts GC over <paramref name="storage"/>,
    /// the read-only watcher of <paramref name="state"/> and AutoRecovery (its metrics in <paramref name="metrics"/>).
    /// </summary>
    public async Task StartAsync(string address, BookieState state, ILedgerStorage storage, CollectorRegistry metrics,
        CancellationToken ct = default)
    {
        _state = state;
        var info = new BookieServiceInfo
        {
            BookieId = BookieId,
            Address = address,
            Rack = _options.Rack,
            ReadOnly = state.ReadOnly,
            // Names this bookie's disks: a registration left by its crashed predecessor is replaced at once (DESIGN §9).
            InstanceId = _instanceId,
        };
        await _registry.RegisterAsync(info, ct).ConfigureAwait(false);
        _registered = info;
        GarbageCollector = new BookieGarbageCollector(storage, Ledgers, _loggerFactory.CreateLogger<BookieGarbageCollector>());
        _loops.Add(Task.Run(() => GarbageCollector.RunAsync(_options.GcInterval, _stop.Token)));
        _loops.Add(Task.Run(() => ReadOnlyLoopAsync(_stop.Token)));
        if (_options.AutoRecoveryEnabled)
        {
            AutoRecovery = AutoRecoveryService.Start(_store, _options.AutoRecovery, BookieId, metrics, _loggerFactory);
        }
    }

    /// <summary>Re-registers with the read-only flag whenever the disk monitor flips it (BookKeeper's read-only registration).</summary>
    private async Task ReadOnlyLoopAsync(CancellationToken ct)
    {
        using var timer = new PeriodicTimer(_options.ReadOnlyCheckInterval);
        try
        {
            while (await timer.WaitForNextTickAsync(ct).ConfigureAwait(false))
            {
                bool readOnly = _state!.ReadOnly;
                if (_registered is null || _registered.ReadOnly == readOnly)
                {
                    continue;
                }
                var info = _registered.Clone();
                info.ReadOnly = readOnly;
                try
                {
                    await _registry.RegisterAsync(info, ct).ConfigureAwait(false);
                    _registered = info;
                    _logger.LogWarning("Bookie {BookieId} registered as {Mode}", BookieId, readOnly ? "read-only" : "writable");
                }
                catch (Exception e) when (e is not OperationCanceledException)
                {
                    _logger.LogWarning(e, "Re-registering bookie {BookieId} failed", BookieId);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Stopping.
        }
    }

    /// <summary>Stops AutoRecovery and the loops, unregisters, closes the session. Idempotent.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }
        _stop.Cancel();
        if (AutoRecovery is not null)
        {
            await AutoRecovery.DisposeAsync().ConfigureAwait(false);
        }
        await Task.WhenAll(_loops).ConfigureAwait(false);
        try
        {
            await _registry.UnregisterAsync().ConfigureAwait(false);
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "Unregistering bookie {BookieId} failed", BookieId);
        }
        await _registry.DisposeAsync().ConfigureAwait(false);
        await _store.DisposeAsync().ConfigureAwait(false);
        _stop.Dispose();
    }
}
