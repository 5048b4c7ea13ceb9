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

    /// <summary>
    /// HTTP/2 connections (gRPC channels) per broker address; producers and consumers are spread over them in turn.
    /// Each may open further connections when the broker's concurrent-stream limit
    /// (<c>BrokerServer:MaxConcurrentStreamsPerConnection</c>) is reached. Pulsar: <c>connectionsPerBroker=1</c>.
    /// </summary>
    public int ConnectionsPerBroker { get; set; } = 1;

    /// <summary>
    /// A connection from which nothing arrived for this long sends an HTTP/2 PING (at least 1 s). Together with
    /// <see cref="KeepAliveTimeout"/> it bounds how long a dead or frozen broker goes unnoticed: keep the sum at or
    /// below the brokers' metadata session timeout, after which another broker takes the topics over.
    /// Pulsar: <c>keepAliveIntervalSeconds=30</c> (here shorter, since the brokers' default session timeout is 30 s).
    /// </summary>
    public TimeSpan KeepAliveInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// A PING not answered within this time (at least 1 s) closes the connection: its streams reconnect through a new
    /// lookup.
    /// </summary>
    public TimeSpan KeepAliveTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Deadline of a TCP connect, and of one service URL's answer to a lookup before the next URL is tried (a frozen
    /// broker accepts connections but answers nothing). Pulsar: <c>connectionTimeoutMs=10000</c>.
    /// </summary>
    public TimeSpan ConnectionTimeout { get; set; } = TimeSpan.FromSeconds(10);

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

        if (ConnectionsPerBroker < 1)
        {
            throw new ArgumentException("ConnectionsPerBroker must be ≥ 1", nameof(ConnectionsPerBroker));
        }

        // SocketsHttpHandler accepts keep-alive settings of at least one second (or infinite).
        if (KeepAliveInterval < TimeSpan.FromSeconds(1) && KeepAliveInterval != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentException("KeepAliveInterval must be ≥ 1 s (or infinite)", nameof(KeepAliveInterval));
        }

        if (KeepAliveTimeout < TimeSpan.FromSeconds(1) && KeepAliveTimeout != Timeout.InfiniteTimeSpan)
        {
            throw new ArgumentException("KeepAliveTimeout must be ≥ 1 s (or infinite)", nameof(KeepAliveTimeout));
        }

        if (ConnectionTimeout <= TimeSpan.Zero)
        {
            throw new ArgumentException("ConnectionTimeout must be positive", nameof(ConnectionTimeout));
        }
    }
}
