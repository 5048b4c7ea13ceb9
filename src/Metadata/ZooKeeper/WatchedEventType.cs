namespace Pulsarish.Metadata.ZooKeeper;

/// <summary>Kind of a fired watch; values are the ZooKeeper wire codes (WatcherEvent.type).</summary>
public enum WatchedEventType
{
    NodeCreated = 1,
    NodeDeleted = 2,
    NodeDataChanged = 3,
    NodeChildrenChanged = 4,
}
