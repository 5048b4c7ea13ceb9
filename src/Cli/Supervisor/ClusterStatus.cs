namespace Pulsarish.Cli.Supervisor;

/// <summary>One member in cluster.json.</summary>
public sealed record ClusterMemberStatus(
    string Name, string Role, string Address, int? Pid, ChildState State, bool Ready, int Restarts, string LogFile);

/// <summary>
/// &lt;data&gt;/cluster.json, rewritten (atomically) on every state change of a child: where everything serves.
/// </summary>
public sealed record ClusterStatus(
    int SupervisorPid,
    string MetadataUrl,
    IReadOnlyList<string> Bookies,
    IReadOnlyList<string> Brokers,
    IReadOnlyList<ClusterMemberStatus> Members,
    long UpdatedMillis);
