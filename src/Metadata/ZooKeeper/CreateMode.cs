namespace Pulsarish.Metadata.ZooKeeper;

/// <summary>How a znode is created; values are the ZooKeeper wire flags (CreateRequest.flags).</summary>
public enum CreateMode
{
    Persistent = 0,
    /// <summary>Deleted by the server when the creating session ends.</summary>
    Ephemeral = 1,
    /// <summary>The server appends a monotonically increasing 10-digit counter of the parent to the name.</summary>
    PersistentSequential = 2,
    EphemeralSequential = 3,
}
