using System.ComponentModel.DataAnnotations;
using Microsoft.Extensions.Logging;
using Pulsarish.Broker;
using Pulsarish.Ledgers;

namespace Pulsarish.Hosting;

/// <summary>Settings of <see cref="StandaloneCluster"/> (<c>pulsarish standalone</c>).</summary>
public sealed class StandaloneOptions
{
    /// <summary>Root of all data (metadata, bookies). Pulsar standalone keeps its data under <c>./data</c>.</summary>
    public string DataDir { get; set; } = Path.Combine("data", "standalone");

    /// <summary>Broker gRPC port; 0 picks a free one. Pulsar: 6650.</summary>
    [Range(0, 65535)]
    public int Port { get; set; } = 6650;

    /// <summary>Loopback by default.</summary>
    public string BindAddress { get; set; } = "127.0.0.1";

    /// <summary>HTTP port of the broker's <c>/metrics</c> (null: off).</summary>
    [Range(0, 65535)]
    public int? MetricsPort { get; set; }

    /// <summary>
    /// Concurrent HTTP/2 streams per client connection of the broker
    /// (<see cref="Pulsarish.Broker.Server.BrokerServerOptions.MaxConcurrentStreamsPerConnection"/>).
    /// </summary>
    [Range(1, int.MaxValue)]
    public int MaxConcurrentStreamsPerConnection { get; set; } = 10_000;

    /// <summary>In-process bookies.</summary>
    [Range(1, 64)]
    public int Bookies { get; set; } = 3;

    /// <summary>
    /// The broker's ledger client calls the in-process bookies directly (BookKeeper's local transport) instead of
    /// over loopback gRPC. Bookies still serve gRPC for every other client.
    /// </summary>
    public bool LocalBookieTransport { get; set; } = true;

    /// <summary>The bookies append with O_DIRECT where the file system allows it (<c>BookieOptions.DirectWrites</c>).</summary>
    public bool DirectWrites { get; set; } = true;

    /// <summary>Persistence of <c>public/default</c> when it is created: E, Qw, Qa.</summary>
    [Range(1, 64)]
    public int EnsembleSize { get; set; } = 3;
    [Range(1, 64)]
    public int WriteQuorum { get; set; } = 2;
    [Range(1, 64)]
    public int AckQuorum { get; set; } = 2;

    /// <summary>
    /// Interval of each bookie's garbage collection (BookKeeper's gcWaitTime is 15 min; the standalone gives disk back
    /// sooner). Also the bookies' minor compaction interval. Bound: after ledgers are deleted in metadata (a topic
    /// trimmed or deleted), entry logs without live data are deleted, and those under 20 % live compacted, within about
    /// two intervals (the next pass plus its run time); logs 20-50 % live wait for <see cref="MajorCompactionInterval"/>.
    /// Each bookie's journal keeps at most its current file past the checkpoint (≤ 64 MiB + 4 MiB preallocation).
    /// </summary>
    public TimeSpan GcInterval { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Major compaction interval of the bookies (entry logs under 50 % live; BookKeeper: 1 day).</summary>
    public TimeSpan MajorCompactionInterval { get; set; } = TimeSpan.FromHours(1);

    /// <summary>Engine settings of the broker.</summary>
    public BrokerOptions Broker { get; set; } = new();

    /// <summary>Settings of the broker's ledger client (add/read timeouts, pending adds, …).</summary>
    public LedgerClientOptions LedgerClient { get; set; } = new();

    /// <summary>Logging of every component (null: warnings to the console).</summary>
    public Action<ILoggingBuilder>? ConfigureLogging { get; set; }

    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(DataDir))
        {
            throw new ArgumentException("a data directory is required");
        }

        if (GcInterval <= TimeSpan.Zero || MajorCompactionInterval <= TimeSpan.Zero)
        {
            throw new ArgumentException("GcInterval and MajorCompactionInterval must be positive");
        }

        if (AckQuorum < 1 || WriteQuorum < AckQuorum || EnsembleSize < WriteQuorum || Bookies < EnsembleSize)
        {
            throw new ArgumentException($"need bookies ≥ E ≥ Qw ≥ Qa ≥ 1 (bookies={Bookies} E={EnsembleSize} Qw={WriteQuorum} Qa={AckQuorum})");
        }
    }
}
