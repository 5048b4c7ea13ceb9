namespace Pulsarish.Metadata;

/// <summary>
/// One session of the embedded tree: its one-shot watches and its ephemerals. Mutated only under the tree's lock;
/// notifications for it go to its view's <see cref="NotificationDispatcher"/>.
/// </summary>
internal sealed class EmbeddedSession(long id, NotificationDispatcher dispatcher)
{
    public long Id { get; } = id;

    public NotificationDispatcher Dispatcher { get; } = dispatcher;

    /// <summary>Paths with a data or existence watch (set by get/exists).</summary>
    public HashSet<string> DataWatches { get; } = new(StringComparer.Ordinal);

    /// <summary>Paths with a child watch (set by getChildren).</summary>
    public HashSet<string> ChildWatches { get; } = new(StringComparer.Ordinal);

    /// <summary>Ephemeral nodes this session created and that still exist.</summary>
    public HashSet<string> Ephemerals { get; } = new(StringComparer.Ordinal);
}
