using Microsoft.Extensions.Logging;
using Pulsarish.Bookie.AutoRecovery;
using Pulsarish.Hosting.Configuration;
using Pulsarish.Metadata;

namespace Pulsarish.Hosting;

/// <summary>
/// AutoRecovery outside bookies (<c>pulsarish autorecovery</c>, BookKeeper's AutoRecoveryMain): an auditor candidate
/// and a replication worker on their own metadata session, with an optional <c>/metrics</c> endpoint on 127.0.0.1.
/// </summary>
public sealed class AutoRecoveryHost : IAsyncDisposable
{
    private readonly ILoggerFactory _loggerFactory;
    private readonly IMetadataStore _store;
    private readonly IDisposable? _metricServer;
    private readonly AutoRecoveryService _service;
    private int _stopped;

    private AutoRecoveryHost(ILoggerFactory loggerFactory, IMetadataStore store, IDisposable? metricServer,
        AutoRecoveryService service)
    {
        _loggerFactory = loggerFactory;
        _store = store;
        _metricServer = metricServer;
        _service = service;
    }

    /// <summary>Candidate/worker id.</summary>
    public string Id => _service.Id;

    /// <summary>The running service.</summary>
    public AutoRecoveryService Service => _service;

    /// <summary>Connects to the metadata store and starts the auditor candidate and the worker.</summary>
    public static async Task<AutoRecoveryHost> StartAsync(AutoRecoverySettings settings, string id, int? metricsPort,
        Action<ILoggingBuilder>? logging, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(settings);
        var loggerFactory = LoggerFactory.Create(logging ?? (l => l.SetMinimumLevel(LogLevel.Warning).AddConsole()));
        IMetadataStore? store = null;
        IDisposable? metricServer = null;
        try
        {
            store = await MetadataStoreFactory.CreateAsync(settings.Metadata.Url, loggerFactory, settings.Metadata.SessionTimeout, ct)
                .ConfigureAwait(false);
            var registry = Prometheus.Metrics.NewCustomRegistry();
            metricServer = metricsPort is int port
                ? new Prometheus.KestrelMetricServer("127.0.0.1", port, "/metrics", registry).Start()
                : null;
            var service = AutoRecoveryService.Start(store, settings.AutoRecovery, id, registry, loggerFactory);
            return new AutoRecoveryHost(loggerFactory, store, metricServer, service);
        }
        catch
        {
            metricServer?.Dispose();
            if (store is not null) await store.DisposeAsync().ConfigureAwait(false);
            loggerFactory.Dispose();
            throw;
        }
    }

    /// <summary>Stops the worker and the candidate, then closes the session. Idempotent.</summary>
    public async Task StopAsync()
    {
        if (Interlocked.Exchange(ref _stopped, 1) != 0)
        {
            return;
        }

        await _service.DisposeAsync().ConfigureAwait(false);
        _metricServer?.Dispose();
        await _store.DisposeAsync().ConfigureAwait(false);
        _loggerFactory.Dispose();
    }

    /// <inheritdoc />
    public ValueTask DisposeAsync() => new(StopAsync());
}
