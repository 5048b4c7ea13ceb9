namespace Pulsarish.Metadata.ZooKeeper;

/// <summary>A fired one-shot watch. <see cref="Path"/> is relative to the client's chroot.</summary>
public readonly record struct WatchedEvent(WatchedEventType Type, string Path);
