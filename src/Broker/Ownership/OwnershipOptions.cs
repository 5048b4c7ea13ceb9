using System.ComponentModel.DataAnnotations;

namespace Pulsarish.Broker.Ownership;

/// <summary>
/// Settings of a broker's registration and bundle ownership (DESIGN.md §7). Defaults follow Pulsar's broker.conf.
/// </summary>
public sealed class OwnershipOptions
{
    /// <summary>Pulsar's <c>defaultNumberOfNamespaceBundles</c>.</summary>
    public const int DefaultBundlesPerNamespace = 4;

    /// <summary>Unique id of this broker, e.g. <c>broker-1</c>; names /loadbalance/brokers/&lt;id&gt;.</summary>
    [Required]
    [RegularExpression("^[A-Za-z0-9._:-]+$")]
    public string BrokerId { get; set; } = "";

    /// <summary>host:port clients are redirected to (the broker's gRPC service).</summary>
    [Required]
    public string AdvertisedAddress { get; set; } = "";

    /// <summary>Number of hash-range bundles each namespace is split into.</summary>
    [Range(1, 1024)]
    public int BundlesPerNamespace { get; set; } = DefaultBundlesPerNamespace;

    /// <summary>
    /// How often the load report in /loadbalance/brokers/&lt;id&gt; is refreshed (Pulsar's
    /// <c>loadBalancerReportUpdateMinIntervalMillis</c> is 5 s); ownership changes refresh it at once.
    /// </summary>
    public TimeSpan LoadReportInterval { get; set; } = TimeSpan.FromSeconds(5);
}
