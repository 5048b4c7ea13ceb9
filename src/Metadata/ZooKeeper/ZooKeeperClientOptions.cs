namespace Pulsarish.Metadata.ZooKeeper;

/// <summary>Settings of a <see cref="ZooKeeperClient"/>. Defaults follow the ZooKeeper Java client where it has one.</summary>
public sealed class ZooKeeperClientOptions
{
    /// <summary>
    /// Comma-separated <c>host:port</c> list with an optional chroot suffix, e.g.
    /// <c>127.0.0.1:2181,127.0.0.1:2182/pulsarish</c>. The port defaults to 2181.
    /// </summary>
    public string ConnectString { get; set; } = "127.0.0.1:2181";

    /// <summary>Requested session timeout; the server clamps it to its [minSessionTimeout, maxSessionTimeout].</summary>
    public TimeSpan SessionTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Bound of one TCP connect + handshake attempt to one server. Null: the session timeout divided by the number
    /// of servers (as the Java client).
    /// </summary>
    public TimeSpan? ConnectTimeout { get; set; }

    /// <summary>
    /// How long an operation issued (or still queued) while disconnected waits for a reconnect before it fails
    /// with ConnectionLossException.
    /// </summary>
    public TimeSpan DisconnectedOperationTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>How long <see cref="ZooKeeperClient.DisposeAsync"/> waits for the server to confirm the session close.</summary>
    public TimeSpan CloseTimeout { get; set; } = TimeSpan.FromSeconds(2);

    /// <summary>Largest frame accepted from or sent to the server (jute.maxbuffer of the Java client: 4 MiB).</summary>
    public int MaxPacketBytes { get; set; } = 4 * 1024 * 1024;

    /// <summary>Bound of the queue of requests not yet written to the socket; callers wait when it is full.</summary>
    public int MaxQueuedRequests { get; set; } = 10_000;

    /// <summary>
    /// Bound of the requests written but not yet answered on one connection (pipelining depth); the writer pauses
    /// when it is reached (the server's own outstanding-request limit defaults to 1000).
    /// </summary>
    public int MaxInFlightRequests { get; set; } = 1000;

    /// <summary>
    /// Bound of the queue of watch and state events not yet delivered to handlers. When handlers fall this far
    /// behind, reading from the server pauses until they catch up.
    /// </summary>
    public int MaxQueuedEvents { get; set; } = 100_000;

    /// <summary>Throws <see cref="ArgumentException"/> when a setting is out of range.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(ConnectString)) throw new ArgumentException("ConnectString is empty");
        if (SessionTimeout <= TimeSpan.Zero || SessionTimeout.TotalMilliseconds > int.MaxValue)
            throw new ArgumentException($"SessionTimeout {SessionTimeout} out of range");
        if (ConnectTimeout is { } c && c <= TimeSpan.Zero) throw new ArgumentException($"ConnectTimeout {c} out of range");
        if (DisconnectedOperationTimeout <= TimeSpan.Zero)
            throw new ArgumentException($"DisconnectedOperationTimeout {DisconnectedOperationTimeout} out of range");
        if (CloseTimeout < TimeSpan.Zero) throw new ArgumentException($"CloseTimeout {CloseTimeout} out of range");
        if (MaxPacketBytes < 1024) throw new ArgumentException($"MaxPacketBytes {MaxPacketBytes} below 1024");
        if (MaxQueuedRequests < 1) throw new ArgumentException($"MaxQueuedRequests {MaxQueuedRequests} below 1");
        if (MaxInFlightRequests < 1) throw new ArgumentException($"MaxInFlightRequests {MaxInFlightRequests} below 1");
        if (MaxQueuedEvents < 1) throw new ArgumentException($"MaxQueuedEvents {MaxQueuedEvents} below 1");
    }
}
