using Microsoft.Extensions.Logging;

namespace Pulsarish.Client;

/// <summary>
/// Settings of a <see cref="PulsarishClient"/>. Defaults follow the Apache Pulsar Java client where a counterpart
/// exists (named in each summary).
/// </summary>
public sealed class PulsarishClientOptions
{
    /// <summary>
    /// Broker addresses to look topics up with, <c>host:port</c> or <c>http://host:port</c> (HTTP/2 cleartext);
    /// tried in turn. Pulsar: <c>serviceUrl</c>.
    /// </summary>
    public IReadOnlyList<string> ServiceUrls { get; set; } = ["127.0.0.1:6650"];

    /// <summary>Deadline of lookups and of creating a producer or consumer. Pulsar: <c>operationTimeoutMs=30000</c>.</summary>
    public TimeSpan OperationTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>First reconnect delay (exponential with jitter after it). Pulsar: <c>initialBackoffIntervalNanos=100ms</c>.</summary>
    public TimeSpan InitialReconnectDelay { get; set; } = TimeSpan.FromMilliseconds(100);

    /// <summary>Longest reconnect delay. Pulsar: <c>maxBackoffIntervalNanos=60s</c>.</summary>
    public TimeSpan MaxReconnectDelay { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Logging of connection changes (null: none).</summary>
    public ILoggerFactory? LoggerFactory { get; set; }

    internal void Validate()
    {
        if (ServiceUrls is null || ServiceUrls.Count == 0)
        {
            throw new ArgumentException("at least one service URL is required", nameof(ServiceUrls));
        }

        if (OperationTimeout <= TimeSpan.Zero || InitialReconnectDelay <= TimeSpan.Zero
            || MaxReconnectDelay < InitialReconnectDelay)
        {
            throw new ArgumentException("timeouts must be positive and MaxReconnectDelay ≥ InitialReconnectDelay");
        }
    }
}
