using System.ComponentModel.DataAnnotations;
using Pulsarish.Metadata;

namespace Pulsarish.Hosting.Configuration;

/// <summary>
/// Where a process finds the cluster's metadata store (configuration section <c>Metadata</c>). Pulsar:
/// <c>metadataStoreUrl</c> and <c>metadataStoreSessionTimeoutMillis</c>; BookKeeper: <c>metadataServiceUri</c>.
/// </summary>
public sealed class MetadataOptions
{
    /// <summary>Metadata store URL: <c>zk:host:port[,host:port][/chroot]</c>, <c>embedded:/dir</c> or <c>memory:</c>.</summary>
    public string Url { get; set; } = "";

    /// <summary>Session timeout of this process's metadata session (Pulsar's default 30 s).</summary>
    [Range(typeof(TimeSpan), "00:00:00.100", "01:00:00")]
    public TimeSpan SessionTimeout { get; set; } = MetadataStoreFactory.DefaultSessionTimeout;
}
