namespace Pulsarish.Hosting.Supervisor;

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
