using System.ComponentModel.DataAnnotations;
namespace Pulsarish.Hosting.Supervisor;

/// <summary>Settings of <c>pulsarish cluster up</c>; every bound is named here.</summary>
public sealed class SupervisorOptions
{
    /// <summary>Root of all cluster data: per-member directories, logs, cluster.json, supervisor.pid.</summary>
    public string DataDir { get; set; } = "./data/cluster";

    /// <summary><c>auto</c> starts a ZooKeeper child; anything else is the connect string of an existing ensemble.</summary>
    public string ZooKeeper { get; set; } = "auto";

    [Range(0, 64)]

    public int Bookies { get; set; } = 3;

    [Range(0, 64)]

    public int Brokers { get; set; } = 2;

    /// <summary>
    /// Null: default ports (ZooKeeper 2181, bookies 3181+i, brokers 6650+i with HTTP 8080+i). Otherwise ZooKeeper
    /// on N, bookies on N+10+i, brokers on N+20+i with HTTP on N+30+i.
    /// </summary>
    [Range(1, 65000)]
    public int? BasePort { get; set; }

    /// <summary>ZooKeeper's tickTime (its default, 2000 ms); sessions may be as short as two ticks.</summary>
    [Range(1, 60000)]
    public int ZooKeeperTickMillis { get; set; } = 2000;

    /// <summary>Metadata session timeout of bookies and brokers (Pulsar's default 30 s).</summary>
    public TimeSpan MetadataSessionTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>A child whose resident memory (with its descendants) exceeds this is restarted; null = no limit.</summary>
    [Range(typeof(long), "1", "9223372036854775807")]
    public long? MaxRssBytes { get; set; }

    /// <summary>A child that has not sent a heartbeat for this long is killed and restarted.</summary>
    public TimeSpan HeartbeatTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long a freshly started child may take to send its first heartbeat.</summary>
    public TimeSpan StartupTimeout { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>How often heartbeats and memory are checked.</summary>
    public TimeSpan HealthCheckInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>Between SIGTERM and SIGKILL when stopping a child.</summary>
    public TimeSpan GracePeriod { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>First restart delay after a crash; doubled on each further crash up to <see cref="MaxRestartBackoff"/>.</summary>
    public TimeSpan InitialRestartBackoff { get; set; } = TimeSpan.FromSeconds(1);

    public TimeSpan MaxRestartBackoff { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>A child that ran this long before failing restarts after the initial back-off again.</summary>
    public TimeSpan StableRunTime { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>A child's log file is rotated (one previous file kept) beyond this size.</summary>
    [Range(typeof(long), "4096", "9223372036854775807")]
    public long MaxLogBytes { get; set; } = 64L * 1024 * 1024;

    /// <summary>
    /// A fault proxy per bookie and broker in front of ZooKeeper (<see cref="MemberFaultProxy"/>), so that
    /// <c>pulsarish verify run</c> can isolate one member from ZooKeeper. Off by default.
    /// </summary>
    public bool FaultProxies { get; set; }

    /// <summary>How long <c>up</c> waits for ZooKeeper to serve before giving up.</summary>
    public TimeSpan ZooKeeperStartTimeout { get; set; } = TimeSpan.FromSeconds(60);
}
