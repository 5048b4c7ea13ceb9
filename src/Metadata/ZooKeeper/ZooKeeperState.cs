namespace Pulsarish.Metadata.ZooKeeper;

/// <summary>Connection and session state of a <see cref="ZooKeeperClient"/>.</summary>
public enum ZooKeeperState
{
    /// <summary>The first session is being established.</summary>
    Connecting,
    /// <summary>Connected to a server; the session is alive.</summary>
    Connected,
    /// <summary>The connection was lost; the client is reconnecting and the session may still be alive.</summary>
    Disconnected,
    /// <summary>The session expired: its ephemerals are gone and this client is dead (build a new one).</summary>
    Expired,
    /// <summary>The client was closed by its owner.</summary>
    Closed,
}
