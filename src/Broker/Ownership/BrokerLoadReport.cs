namespace Pulsarish.Broker.Ownership;

/// <summary>
/// The data of /loadbalance/brokers/&lt;brokerId&gt; (JSON): where the broker serves and how loaded it is.
/// The least-loaded choice (<see cref="LeastLoadedBrokerSelector"/>) reads these.
/// </summary>
/// <param name="BrokerId">Unique broker id.</param>
/// <param name="Address">host:port of the client gRPC service.</param>
/// <param name="InstanceId">Random id of this process incarnation (a restarted broker keeps its id, not its instance).</param>
/// <param name="BundleCount">Namespace bundles owned.</param>
/// <param name="TopicCount">Topics loaded.</param>
/// <param name="MsgRateIn">Messages per second received from producers.</param>
/// <param name="MsgRateOut">Messages per second dispatched to consumers.</param>
/// <param name="CpuPercent">Process CPU use over the last report interval, 0–100 per core.</param>
/// <param name="TimestampMillis">Unix time of the report.</param>
public sealed record BrokerLoadReport(
    string BrokerId,
    string Address,
    string InstanceId,
    int BundleCount,
    int TopicCount,
    double MsgRateIn,
    double MsgRateOut,
    double CpuPercent,
    long TimestampMillis);
