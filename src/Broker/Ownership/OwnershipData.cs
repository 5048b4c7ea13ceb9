namespace Pulsarish.Broker.Ownership;

/// <summary>
/// The data of the ephemeral /namespace/&lt;tenant&gt;/&lt;ns&gt;/&lt;bundle&gt; (JSON, like Pulsar's
/// NamespaceEphemeralData): who owns the bundle and where clients find it.
/// </summary>
/// <param name="BrokerId">Owner broker id.</param>
/// <param name="Address">host:port of the owner's client gRPC service.</param>
/// <param name="InstanceId">The owner's process incarnation (tells a stale record of a restarted broker apart).</param>
public sealed record OwnershipData(string BrokerId, string Address, string InstanceId);
