using Pulsarish.Bookie;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Options;
using Prometheus;
using Pulsarish.Bookie.Registration;
using Pulsarish.Bookie.Server;
using Pulsarish.Bookie.Storage;
using Pulsarish.Ledgers;
using Pulsarish.Hosting;

namespace Pulsarish.Hosting;

/// <summary>
/// A running bookie: the Bookie gRPC service over HTTP/2 cleartext on <see cref="BookieOptions.BindAddress"/>
/// (loopback by default), backed by its storage engine, plus an optional HTTP/1.1 <c>/metrics</c> endpoint.
/// Used by <c>pulsarish bookie</c> and, in-process, by tests. <see cref="StopAsync"/> is graceful: new adds are
/// refused, in-flight calls finish (up to <see cref="BookieOptions.ShutdownTimeout"/>), then storage is flushed and
/// closed.
/// </summary>
public sealed class BookieHost : IAsyncDisposable
{
    private static readonly TimeSpan AddStreamPollInterval = TimeSpan.FromMilliseconds(20);

    private readonly WebApplication _app;
    private readonly BookieState _state;
    private readonly Timer _diskCheck;
    private readonly ILogger<BookieHost> _logger;
    private readonly BookieOptions _options;
    private readonly ILoggerFactory _loggerFactory;
    private int _stopped;

    /// <summary>The services the gRPC health service reports on (besides the whole server, "").</summary>
    private static readonly string[] HealthServices = ["pulsarish.bookie.Bookie"];
    private BookieRegistration? _registration;

    private BookieHost(WebApplication app, ILedgerStorage storage, BookieState state, BookieMetrics metrics,
        BookieOptions options, ILoggerFactory loggerFactory, IPEndPoint endPoint, int? metricsPort)
    {
        _app = app;
        Storage = storage;
        _state = state;
        Metrics = metrics;
        _options = options;
        _loggerFactory = loggerFactory;
        EndPoint = endPoint;
        MetricsPort = metricsPort;
        _logger = app.Services.GetRequiredService<ILogger<BookieHost>>();
        _diskCheck = new Timer(static s => ((BookieState)s!).RefreshDiskUsage(), state, options.DiskCheckInterval,
            options.DiskCheckInterval);
    }

    /// <summary>The bound gRPC endpoint (the real port when <see cref="BookieOptions.Port"/> was 0).</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>"host:port" of the gRPC endpoint, as clients dial it ("[::1]:port" for IPv6).</summary>
    public string Address => EndPoint.ToString();

    /// <summary>The bookie's identity in metadata.</summary>
    public string BookieId => _state.BookieId;

    /// <summary>The bound <c>/metrics</c> port, or null when disabled.</summary>
    public int? MetricsPort { get; }

    /// <summary>The storage engine this bookie serves (owned by the server).</summary>
    public ILedgerStorage Storage { get; }

    /// <summary>The bookie's Prometheus metrics.</summary>
    public BookieMetrics Metrics { get; }

    /// <summary>Cluster metadata membership (cookie, registration, GC, AutoRecovery), or null without a metadata store.</summary>
    public BookieRegistration? Registration => _registration;

    /// <summary>Runtime state (read-only flag, disk usage, adds in flight).</summary>
    public BookieState State => _state;

    /// <summary>
    /// This bookie for a ledger client in the same process (<see cref="LocalBookieClient"/>), without the network;
    /// it answers SHUTTING_DOWN once the server stops.
    /// </summary>
    public ILocalBookie Local { get; private set; } = null!;

    /// <summary>Starts a bookie with the given storage engine factory and logging.</summary>
    public static async Task<BookieHost> StartAsync(BookieOptions options, BookieHostSetup setup,
        CancellationToken ct = default)
    {
        var validation = new BookieOptionsValidator().Validate(null, options);
        if (validation.Failed)
        {
            throw new OptionsValidationException(nameof(BookieOptions), typeof(BookieOptions), validation.Failures);
        }

        var loggerFactory = LoggerFactory.Create(setup.ConfigureLogging ?? DefaultLogging);
        var bindAddress = options.ParsedBindAddress;
        // An add carries the payload plus ids, key and digest: leave room beyond MaxEntryBytes so that an oversize
        // payload reaches the service and is answered TOO_LARGE instead of killing the stream.
        var host = GrpcServerHost.Create("Pulsarish.Bookie", loggerFactory, bindAddress, options.Port, options.MetricsPort,
            maxStreamsPerConnection: 1_000, maxReceiveMessageBytes: options.MaxEntryBytes + 64 * 1024 + options.MaxMasterKeyBytes);
        var builder = host.Builder;

        var storageFactory = setup.StorageFactory ?? DefaultLedgerStorage.OpenAsync;
        ILedgerStorage storage;
        BookieRegistration? registration = null;
        try
        {
            // Cookie check before storage opens: swapped or empty disks never join under a known id.
            registration = options.Registration is null ? null
                : await BookieRegistration.PrepareAsync(options, options.Registration, loggerFactory, ct).ConfigureAwait(false);
            storage = await storageFactory(options, loggerFactory, ct).ConfigureAwait(false);
        }
        catch
        {
            if (registration is not null)
            {
                await registration.DisposeAsync().ConfigureAwait(false);
            }
            loggerFactory.Dispose();
            throw;
        }

        WebApplication? app = null;
        try
        {
            var metrics = new BookieMetrics(Prometheus.Metrics.NewCustomRegistry());
            builder.Services.AddSingleton(storage);
            builder.Services.AddSingleton(options);
            builder.Services.AddSingleton(metrics);
            builder.Services.AddSingleton(sp =>
            {
                var state = new BookieState(
                    options.BookieId ?? new IPEndPoint(bindAddress, host.GrpcEndPoint.Port).ToString(), options,
                    sp.GetRequiredService<ILoggerFactory>().CreateLogger<BookieState>());
                if (storage.AcceptedJournalCorruption.Count > 0)
                {
                    // Set before the state is first seen: no normal add is taken, and the bookie registers read-only.
                    state.ReadOnlyUntilRestart("journal corruption accepted at start-up: "
                        + string.Join("; ", storage.AcceptedJournalCorruption));
                }
                return state;
            });
            builder.Services.AddSingleton<BookieService>();

            app = builder.Build();
            app.UseRouting();
            app.MapGrpcService<BookieService>();
            GrpcServerHost.MapStandardServices(app);
            if (options.MetricsPort is not null)
            {
                app.MapMetrics("/metrics", metrics.Registry);
            }

            await app.StartAsync(ct).ConfigureAwait(false);
            var endPoint = host.GrpcEndPoint;
            var state = app.Services.GetRequiredService<BookieState>();
            state.RefreshDiskUsage();
            var server = new BookieHost(app, storage, state, metrics, options, loggerFactory, endPoint,
                host.MetricsPort);
            server.Local = new LocalBookie(app.Services.GetRequiredService<BookieService>(), storage, options, state,
                metrics, loggerFactory.CreateLogger<LocalBookie>());
            server._logger.LogInformation("Bookie {BookieId} listening on {Address}", server.BookieId, server.Address);
            if (registration is not null)
            {
                server._registration = registration;
                await registration.StartAsync(server.Address, server.State, server.Storage, server.Metrics.Registry, ct).ConfigureAwait(false);
            }
            // Serving once storage is open, the listener bound and the bookie registered (DESIGN §1).
            GrpcServerHost.SetServing(app, HealthServices);
            return server;
        }
        catch
        {
            if (app is not null)
            {
                await app.DisposeAsync().ConfigureAwait(false);
            }

            if (registration is not null)
            {
                await registration.DisposeAsync().ConfigureAwait(false);
            }
            await storage.DisposeAsync().ConfigureAwait(false);
            loggerFactory.Dispose();
            throw;
        }
    }

    /// <summary>Starts a bookie on <see cref="LedgerStorage"/> in the configured directories.</summary>
    public static Task<BookieHost> StartAsync(BookieOptions options, CancellationToken ct = default)
        => StartAsync(options, new BookieHostSetup(), ct);

    /// <summary>
    /// Graceful stop: refuses new adds, lets in-flight calls finish within <see cref="BookieOptions.ShutdownTimeout"/>,
    /// then flushes the write cache and closes storage. Idempotent.
    /// </summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        if (_registration is not null)
        {
            // Leave the cluster first: clients stop choosing this bookie while in-flight calls finish.
            await _registration.DisposeAsync().ConfigureAwait(false);
        }
        GrpcServerHost.SetNotServing(_app, HealthServices);
        _state.BeginShutdown();
        await _diskCheck.DisposeAsync().ConfigureAwait(false);
        using (var timeout = new CancellationTokenSource(_options.ShutdownTimeout))
        {
            try
            {
                // Add streams end themselves on Stopping once their adds are answered; let their trailers go out
                // before Kestrel closes the connections.
                while (_state.OpenAddStreams > 0)
                {
                    await Task.Delay(AddStreamPollInterval, timeout.Token).ConfigureAwait(false);
                }

                await Task.Delay(AddStreamPollInterval, timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                _logger.LogWarning("Bookie {BookieId}: {Streams} add streams still open after {Timeout}", BookieId,
                    _state.OpenAddStreams, _options.ShutdownTimeout);
            }

            try
            {
                await _app.StopAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                _logger.LogWarning("Bookie {BookieId}: calls still running after {Timeout}", BookieId,
                    _options.ShutdownTimeout);
            }
        }

        try
        {
            await Storage.FlushAsync().ConfigureAwait(false);
        }
        catch (Exception ex)
        {
            // The journal already holds every acknowledged entry; replay on restart covers a failed flush.
            _logger.LogError(ex, "Bookie {BookieId}: final flush failed", BookieId);
        }

        await Storage.DisposeAsync().ConfigureAwait(false);
        await _app.DisposeAsync().ConfigureAwait(false);
        _logger.LogInformation("Bookie {BookieId} stopped", BookieId);
        _loggerFactory.Dispose();
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => new(StopAsync());

    private static void DefaultLogging(ILoggingBuilder logging)
        => logging.SetMinimumLevel(LogLevel.Warning)
            .AddFilter("Microsoft.AspNetCore", LogLevel.Error)
            .AddSimpleConsole(c => c.SingleLine = true)
            .AddConsole(c => c.LogToStandardErrorThreshold = LogLevel.Trace);
}
