namespace Pulsarish.Hosting.Supervisor;

/// <summary>
/// &lt;data&gt;/cluster.json, rewritten (atomically) on every state change of a child: where everything serves, and
/// the timeouts a fault injector (<c>pulsarish verify run</c>) needs: a pause must outlast the metadata session but
/// not the heartbeat timeout, or the supervisor kills the paused member.
/// </summary>
public sealed record ClusterStatus(
    int SupervisorPid,
    string MetadataUrl,
    IReadOnlyList<string> Bookies,
    IReadOnlyList<string> Brokers,
    IReadOnlyList<ClusterMemberStatus> Members,
    long UpdatedMillis,
    long MetadataSessionTimeoutMillis = 0,
    long HeartbeatTimeoutMillis = 0,
    bool FaultProxies = false);
