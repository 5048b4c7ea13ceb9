using Pulsarish.Broker;
using Pulsarish.Broker.Server;
using System.Net;
using Microsoft.AspNetCore.Builder;
using Microsoft.Extensions.DependencyInjection;
using Microsoft.Extensions.Logging;
using Prometheus;
using Pulsarish.Ledgers;
using Pulsarish.Metadata;
using Pulsarish.Hosting;

namespace Pulsarish.Hosting;

/// <summary>
/// A running broker: the client gRPC service over HTTP/2 cleartext on <see cref="BrokerServerOptions.BindAddress"/>
/// (loopback by default; port 0 picks a free one), an optional HTTP/1.1 <c>/metrics</c> endpoint, and the engine
/// (<see cref="BrokerService"/>) on the given metadata store and ledger client (both stay the caller's).
/// <see cref="StopAsync"/> is graceful: streams end with ServiceNotReady, topics are unloaded (cursors persisted).
/// </summary>
public sealed class BrokerHost : IAsyncDisposable
{
    private readonly WebApplication _app;
    private readonly BrokerServiceAccessor _accessor;
    private readonly BrokerServerOptions _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger<BrokerHost> _logger;
    private int _stopped;

    /// <summary>The services the gRPC health service reports on (besides the whole server, "").</summary>
    private static readonly string[] HealthServices = ["pulsarish.broker.PulsarishBroker", "pulsarish.admin.PulsarishAdmin"];

    private BrokerHost(WebApplication app, BrokerServiceAccessor accessor, BrokerService service, BrokerMetrics metrics,
        BrokerServerOptions options, ILoggerFactory loggerFactory, IPEndPoint endPoint, int? metricsPort, string address)
    {
        _app = app;
        _accessor = accessor;
        Service = service;
        Metrics = metrics;
        _options = options;
        _loggerFactory = loggerFactory;
        EndPoint = endPoint;
        MetricsPort = metricsPort;
        Address = address;
        _logger = loggerFactory.CreateLogger<BrokerHost>();
    }

    /// <summary>The bound gRPC endpoint.</summary>
    public IPEndPoint EndPoint { get; }

    /// <summary>"host:port" clients dial (the advertised address).</summary>
    public string Address { get; }

    /// <summary>The bound <c>/metrics</c> port, or null when disabled.</summary>
    public int? MetricsPort { get; }

    /// <summary>The engine.</summary>
    public BrokerService Service { get; }

    public BrokerMetrics Metrics { get; }

    /// <summary>
    /// Binds the endpoint, starts the engine with <see cref="BrokerOptions.AdvertisedAddress"/> set to the bound
    /// address (unless <see cref="BrokerServerOptions.AdvertisedAddress"/> names one), then serves.
    /// </summary>
    public static async Task<BrokerHost> StartAsync(BrokerServerOptions options, BrokerOptions brokerOptions,
        IMetadataStore store, LedgerClient ledgerClient, BrokerHostSetup? setup = null, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        ArgumentNullException.ThrowIfNull(brokerOptions);
        options.Validate();
        brokerOptions.Validate();
        setup ??= new BrokerHostSetup();
        var configureLogging = setup.ConfigureLogging ?? DefaultLogging;
        var loggerFactory = LoggerFactory.Create(logging =>
        {
            configureLogging(logging);
            // Grpc.AspNetCore logs every call that ends in an RpcException (the reasons of ErrorMapper, a malformed
            // request body) at Information: client mistakes, not broker events.
            logging.AddFilter(ServerCallHandlerLogCategory, LogLevel.Warning);
        });
        // Room beyond the largest entry so that an oversize send reaches the engine and is answered TOO_LARGE
        // instead of failing the whole stream.
        var host = GrpcServerHost.Create("Pulsarish.Broker", loggerFactory, options.ParsedBindAddress, options.Port,
            options.MetricsPort, maxStreamsPerConnection: options.MaxConcurrentStreamsPerConnection,
            maxReceiveMessageBytes: 2 * brokerOptions.MaxMessageSizeBytes + 1024 * 1024,
            kestrel => kestrel.Limits.MinRequestBodyDataRate = null);
        var builder = host.Builder;

        var accessor = new BrokerServiceAccessor();
        var metrics = new BrokerMetrics(Prometheus.Metrics.NewCustomRegistry());
        builder.Services.AddSingleton(accessor);
        builder.Services.AddSingleton(options);
        builder.Services.AddSingleton(metrics);

        var app = builder.Build();
        BrokerService? service = null;
        try
        {
            app.UseRouting();
            app.MapGrpcService<BrokerGrpcService>();
            app.MapGrpcService<AdminGrpcService>();
            GrpcServerHost.MapStandardServices(app);
            if (options.MetricsPort is not null)
            {
                app.MapMetrics("/metrics", metrics.Registry);
            }

            await app.StartAsync(ct).ConfigureAwait(false);
            var endPoint = host.GrpcEndPoint;
            string address = options.AdvertisedAddress ?? $"{endPoint.Address}:{endPoint.Port}";
            brokerOptions.AdvertisedAddress = address;
            var ownership = setup.CreateOwnership is null ? null : await setup.CreateOwnership(address, ct).ConfigureAwait(false);
            service = await BrokerService.StartAsync(brokerOptions, store, ledgerClient, ownership, loggerFactory, ct)
                .ConfigureAwait(false);
            accessor.Attach(service);
            GrpcServerHost.SetServing(app, HealthServices);
            var server = new BrokerHost(app, accessor, service, metrics, options, loggerFactory, endPoint,
                host.MetricsPort, address);
            server._logger.LogInformation("Broker {BrokerId} listening on {Address}", brokerOptions.BrokerId, address);
            return server;
        }
        catch
        {
            accessor.BeginShutdown();
            if (service is not null)
            {
                await service.DisposeAsync().ConfigureAwait(false);
            }

            await app.DisposeAsync().ConfigureAwait(false);
            loggerFactory.Dispose();
            throw;
        }
    }

    /// <summary>Ends open streams (ServiceNotReady), unloads every topic, stops listening. Idempotent.</summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        GrpcServerHost.SetNotServing(_app, HealthServices);
        _accessor.BeginShutdown();
        try
        {
            await Service.DisposeAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            _logger.LogError(e, "Stopping the broker engine failed");
        }

        using (var timeout = new CancellationTokenSource(_options.ShutdownTimeout))
        {
            try
            {
                await _app.StopAsync(timeout.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                _logger.LogWarning("Broker: calls still running after {Timeout}", _options.ShutdownTimeout);
            }
        }

        await _app.DisposeAsync().ConfigureAwait(false);
        _logger.LogInformation("Broker at {Address} stopped", Address);
        _loggerFactory.Dispose();
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => new(StopAsync());

    /// <summary>Log category of Grpc.AspNetCore's per-call handler.</summary>
    private const string ServerCallHandlerLogCategory = "Grpc.AspNetCore.Server.ServerCallHandler";

    private static void DefaultLogging(ILoggingBuilder logging)
        => logging.SetMinimumLevel(LogLevel.Warning)
            .AddFilter("Microsoft.AspNetCore", LogLevel.Error)
            .AddSimpleConsole(c => c.SingleLine = true)
            .AddConsole(c => c.LogToStandardErrorThreshold = LogLevel.Trace);
}
