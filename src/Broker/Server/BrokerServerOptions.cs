using System.ComponentModel.DataAnnotations;
using System.Net;

namespace Pulsarish.Broker.Server;

/// <summary>
/// Hosting settings of a broker process: where the client gRPC service and <c>/metrics</c> listen, and stream
/// limits. The engine's own settings are <see cref="BrokerOptions"/>.
/// </summary>
public sealed class BrokerServerOptions
{
    /// <summary>Address the gRPC (HTTP/2 cleartext) endpoint binds to; loopback by default.</summary>
    public string BindAddress { get; set; } = "127.0.0.1";

    /// <summary>gRPC port; 0 picks a free one. Pulsar: <c>brokerServicePort=6650</c>.</summary>
    [Range(0, 65535)]
    public int Port { get; set; } = 6650;

    /// <summary>HTTP/1.1 port of <c>/metrics</c>; null disables it, 0 picks a free one. Pulsar: <c>webServicePort=8080</c>.</summary>
    [Range(0, 65535)]
    public int? MetricsPort { get; set; }

    /// <summary>host:port that lookups answer (null: BindAddress and the bound port).</summary>
    public string? AdvertisedAddress { get; set; }

    /// <summary>Responses queued per Produce or Consume stream before the broker stops reading that stream.</summary>
    [Range(1, int.MaxValue)]
    public int MaxQueuedResponsesPerStream { get; set; } = 1_000;

    /// <summary>
    /// Concurrent HTTP/2 streams (producers, consumers, calls) one client connection may hold
    /// (SETTINGS_MAX_CONCURRENT_STREAMS; Kestrel's own default is 100). A client holding more streams opens further
    /// connections (see the SDK's <c>ConnectionsPerBroker</c>).
    /// </summary>
    [Range(1, int.MaxValue)]
    public int MaxConcurrentStreamsPerConnection { get; set; } = 10_000;

    /// <summary>How long a graceful stop waits for open calls before they are aborted.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(10);

    public IPAddress ParsedBindAddress => IPAddress.Parse(BindAddress);

    /// <summary>Throws <see cref="ArgumentException"/> for settings out of range.</summary>
    public void Validate()
    {
        if (!IPAddress.TryParse(BindAddress, out _))
        {
            throw new ArgumentException($"BindAddress '{BindAddress}' is not an IP address");
        }

        if (Port is < 0 or > 65535 || MetricsPort is < 0 or > 65535)
        {
            throw new ArgumentException("ports must be within 0..65535");
        }

        if (MaxConcurrentStreamsPerConnection < 1)
        {
            throw new ArgumentException("MaxConcurrentStreamsPerConnection must be ≥ 1");
        }

        if (MaxQueuedResponsesPerStream < 1 || ShutdownTimeout < TimeSpan.Zero)
        {
            throw new ArgumentException("MaxQueuedResponsesPerStream must be ≥ 1 and ShutdownTimeout ≥ 0");
        }
    }
}
