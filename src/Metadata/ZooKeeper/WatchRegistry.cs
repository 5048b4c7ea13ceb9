namespace Pulsarish.Metadata.ZooKeeper;

/// <summary>
/// The one-shot watches this session has set on the server (server paths), kept so that they can be re-registered
/// with SetWatches after a reconnect. Mirrors the server's bookkeeping: a read that set a watch adds it, a fired
/// event removes the watches it consumed. Thread-safe.
/// </summary>
internal sealed class WatchRegistry
{
    private readonly object _lock = new();
    private readonly HashSet<string> _data = new(StringComparer.Ordinal);
    private readonly HashSet<string> _exists = new(StringComparer.Ordinal);
    private readonly HashSet<string> _child = new(StringComparer.Ordinal);

    /// <summary>Records the watch a successful read set (exists on a missing node sets an existence watch).</summary>
    public void OnReply(WatchKind kind, string serverPath, int err)
    {
        lock (_lock)
        {
            switch (kind)
            {
                case WatchKind.Data when err == 0:
                    _data.Add(serverPath);
                    break;
                case WatchKind.Exists when err == 0:
                    _data.Add(serverPath);
                    break;
                case WatchKind.Exists when err == (int)ZooKeeperErrorCode.NoNode:
                    _exists.Add(serverPath);
                    break;
                case WatchKind.Child when err == 0:
                    _child.Add(serverPath);
                    break;
            }
        }
    }

    /// <summary>Removes the watches a fired event consumed.</summary>
    public void OnEvent(WatchedEventType type, string serverPath)
    {
        lock (_lock)
        {
            switch (type)
            {
                case WatchedEventType.NodeCreated:
                case WatchedEventType.NodeDataChanged:
                    _data.Remove(serverPath);
                    _exists.Remove(serverPath);
                    break;
                case WatchedEventType.NodeDeleted:
                    _data.Remove(serverPath);
                    _exists.Remove(serverPath);
                    _child.Remove(serverPath);
                    break;
                case WatchedEventType.NodeChildrenChanged:
                    _child.Remove(serverPath);
                    break;
            }
        }
    }

    public (List<string> Data, List<string> Exists, List<string> Child) Snapshot()
    {
        lock (_lock) return ([.. _data], [.. _exists], [.. _child]);
    }

    public void Clear()
    {
        lock (_lock)
        {
            _data.Clear();
            _exists.Clear();
            _child.Clear();
        }
    }
}
