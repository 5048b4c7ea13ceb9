namespace Pulsarish.Protocol.Errors;

/// <summary>Base of metadata store errors (both the ZooKeeper and the embedded store raise these).</summary>
public class MetadataStoreException(string reason, string message, Exception? inner = null)
    : PulsarishException(reason, message, inner);

/// <summary>An embedded store's directory is locked by another open store (another process, e.g. a running standalone).</summary>
public sealed class MetadataStoreBusyException(string directory, Exception? inner = null)
    : MetadataStoreException("MetadataStoreBusy", $"the embedded store at {directory} is in use by a running process", inner)
{
    /// <summary>The store's directory.</summary>
    public string Directory { get; } = directory;
}

/// <summary>The node does not exist (ZooKeeper NONODE).</summary>
public sealed class NoNodeException(string path) : MetadataStoreException("NoNode", $"no node {path}")
{
    public string Path { get; } = path;
}

/// <summary>The node already exists (ZooKeeper NODEEXISTS).</summary>
public sealed class NodeExistsException(string path) : MetadataStoreException("NodeExists", $"node exists {path}")
{
    public string Path { get; } = path;
}

/// <summary>A compare-and-set found another version (ZooKeeper BADVERSION).</summary>
public sealed class BadVersionException(string path, long expected)
    : MetadataStoreException("BadVersion", $"bad version for {path}: expected {expected}")
{
    public string Path { get; } = path;
}

/// <summary>Delete of a node that still has children (ZooKeeper NOTEMPTY).</summary>
public sealed class NotEmptyException(string path) : MetadataStoreException("NotEmpty", $"node not empty {path}")
{
    public string Path { get; } = path;
}

/// <summary>The connection was lost while the operation was in flight; its outcome is unknown.</summary>
public sealed class ConnectionLossException(string message, Exception? inner = null)
    : MetadataStoreException("ConnectionLoss", message, inner);

/// <summary>The session expired: every ephemeral node of it is gone and the client must be rebuilt.</summary>
public sealed class SessionExpiredException(string message) : MetadataStoreException("SessionExpired", message);

/// <summary>The server sent something that violates the protocol.</summary>
public sealed class ProtocolException(string message) : MetadataStoreException("ProtocolError", message);
