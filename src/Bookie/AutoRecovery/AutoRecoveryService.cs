using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Prometheus;
using Pulsarish.Ledgers;
using Pulsarish.Metadata;

namespace Pulsarish.Bookie.AutoRecovery;

/// <summary>
/// AutoRecovery of one process (BookKeeper's AutoRecoveryMain): an auditor candidate (the elected one audits) and one
/// replication worker, on the given metadata session. Runs inside a bookie (<c>--autorecovery true</c>) or
/// standalone (<c>pulsarish autorecovery</c>). Dispose to stop; the session's ephemerals (candidate, locks) go with it.
/// </summary>
public sealed class AutoRecoveryService : IAsyncDisposable
{
    private readonly BookieRegistry _registry;
    private readonly GrpcBookieClient _bookies;
    private readonly LedgerClient _recoveryClient;

    private AutoRecoveryService(string id, BookieRegistry registry, GrpcBookieClient bookies, LedgerClient recoveryClient,
        UnderReplicationManager tasks, Auditor auditor, AuditorElector elector, ReplicationWorker worker, AutoRecoveryMetrics metrics)
    {
        Id = id;
        _registry = registry;
        _bookies = bookies;
        _recoveryClient = recoveryClient;
        Tasks = tasks;
        Auditor = auditor;
        Elector = elector;
        Worker = worker;
        Metrics = metrics;
    }

    /// <summary>This process's candidate and worker id.</summary>
    public string Id { get; }

    public UnderReplicationManager Tasks { get; }
    public Auditor Auditor { get; }
    public AuditorElector Elector { get; }
    public ReplicationWorker Worker { get; }
    public AutoRecoveryMetrics Metrics { get; }

    /// <summary>True while this process is the elected auditor.</summary>
    public bool IsAuditor => Elector.IsLeader;

    /// <summary>
    /// Starts the auditor candidate (unless <paramref name="auditorCandidate"/> is false: a worker only, e.g. the
    /// admin's inline recovery) and the worker on <paramref name="store"/> (not owned). Metrics go to
    /// <paramref name="metricsRegistry"/> (default: a private registry).
    /// </summary>
    public static AutoRecoveryService Start(IMetadataStore store, AutoRecoveryOptions options, string id,
        CollectorRegistry? metricsRegistry = null, ILoggerFactory? loggerFactory = null, bool auditorCandidate = true)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        loggerFactory ??= NullLoggerFactory.Instance;
        var metrics = new AutoRecoveryMetrics(metricsRegistry ?? Prometheus.Metrics.NewCustomRegistry());
        var ledgers = new LedgerMetadataStore(store, logger: loggerFactory.CreateLogger<LedgerMetadataStore>());
        var registry = new BookieRegistry(store, logger: loggerFactory.CreateLogger<BookieRegistry>());
        var directory = new RegistryBookieDirectory(registry);
        var bookies = new GrpcBookieClient(directory, options.ClientOptions, loggerFactory);
        var recoveryClient = new LedgerClient(new MetadataStoreLedgerManager(ledgers), directory, bookies, options.ClientOptions,
            loggerFactory, ownsBookieClient: false);
        var tasks = new UnderReplicationManager(store, loggerFactory.CreateLogger<UnderReplicationManager>());
        var checker = new LedgerChecker(bookies);
        var copier = new LedgerFragmentReplicator(bookies, new TokenBucket(options.MaxEntriesPerSecond), options, metrics,
            loggerFactory.CreateLogger<LedgerFragmentReplicator>());
        var replicator = new LedgerReplicator(ledgers, directory, bookies, recoveryClient, copier, options, metrics,
            loggerFactory.CreateLogger<LedgerReplicator>());
        var auditor = new Auditor(ledgers, registry, tasks, checker, options, metrics, loggerFactory.CreateLogger<Auditor>());
        var elector = new AuditorElector(store, id, auditor.RunAsync, loggerFactory.CreateLogger<AuditorElector>());
        var worker = new ReplicationWorker(store, tasks, replicator, options, metrics, id, loggerFactory.CreateLogger<ReplicationWorker>());
        var service = new AutoRecoveryService(id, registry, bookies, recoveryClient, tasks, auditor, elector, worker, metrics);
        if (auditorCandidate)
        {
            elector.Start();
        }
        worker.Start();
        return service;
    }

    public async ValueTask DisposeAsync()
    {
        await Elector.DisposeAsync().ConfigureAwait(false);
        await Worker.DisposeAsync().ConfigureAwait(false);
        await _recoveryClient.DisposeAsync().ConfigureAwait(false);
        await _bookies.DisposeAsync().ConfigureAwait(false);
        await _registry.DisposeAsync().ConfigureAwait(false);
    }
}
