namespace Pulsarish.Metadata.ZooKeeper;

/// <summary>Which one-shot watch a read asks the server to set (ZKWatchManager registration rules).</summary>
internal enum WatchKind
{
    None,
    /// <summary>getData, or exists on a node that exists: fires on change or deletion.</summary>
    Data,
    /// <summary>exists: a data watch when the node exists, an existence watch (fires NodeCreated) when not.</summary>
    Exists,
    /// <summary>getChildren: fires when a child is added or removed, or the node is deleted.</summary>
    Child,
}
