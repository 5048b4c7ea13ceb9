namespace Pulsarish.Broker.Ownership;

/// <summary>Metadata paths of broker liveness and bundle ownership (DESIGN.md §6).</summary>
public static class OwnershipPaths
{
    /// <summary>Parent of the ephemeral broker registrations.</summary>
    public const string Brokers = "/loadbalance/brokers";

    /// <summary>Parent of the ephemeral bundle ownership records.</summary>
    public const string Namespaces = "/namespace";

    public static string Broker(string brokerId) => Brokers + "/" + brokerId;

    /// <summary>/namespace/&lt;tenant&gt;/&lt;ns&gt; — parent of the bundles of a namespace.</summary>
    public static string Namespace(string namespaceName) => Namespaces + "/" + namespaceName;
}
