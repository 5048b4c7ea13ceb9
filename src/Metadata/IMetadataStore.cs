namespace Pulsarish.Metadata;

/// <summary>Version and times of a stored record.</summary>
/// <param name="Version">Incremented on every update; starts at 0 on create.</param>
/// <param name="Ephemeral">True when the record lives only as long as its creator's session.</param>
/// <param name="EphemeralOwner">
/// The session an ephemeral record belongs to (ZooKeeper's Stat.ephemeralOwner); 0 for persistent records. An owner
/// compares it with its store's <see cref="IMetadataStore.SessionId"/> to tell its current record from one left by
/// an earlier session of its own (DESIGN.md §9).
/// </param>
public sealed record Stat(long Version, bool Ephemeral, long CreatedMillis, long ModifiedMillis, long EphemeralOwner = 0);

/// <summary>A record with its version.</summary>
public sealed record GetResult(byte[] Value, Stat Stat);

/// <summary>Kinds of change notification (DESIGN.md §6: watches).</summary>
public enum NotificationType { Created, Modified, Deleted, ChildrenChanged }

/// <summary>A change of the record at <see cref="Path"/>.</summary>
public readonly record struct Notification(NotificationType Type, string Path);

/// <summary>Session state changes of a metadata store connection.</summary>
public enum SessionEvent
{
    /// <summary>Connection lost; the session may still be alive (operations may fail with ConnectionLoss).</summary>
    ConnectionLost,
    /// <summary>Reconnected within the session timeout: the session and its ephemerals survived.</summary>
    Reconnected,
    /// <summary>The session expired: all its ephemerals are gone. Callers must re-create what they own.</summary>
    SessionLost,
    /// <summary>A new session was established after <see cref="SessionLost"/>.</summary>
    SessionReestablished,
}

/// <summary>How a record is created.</summary>
[Flags]
public enum CreateOptions
{
    None = 0,
    /// <summary>Deleted when the creating session ends.</summary>
    Ephemeral = 1,
    /// <summary>A monotonically increasing 10-digit suffix is appended to the name.</summary>
    Sequential = 2,
}

/// <summary>
/// The metadata store contract (Pulsar's MetadataStore): a tree of versioned records addressed by
/// '/'-separated paths. Implemented on ZooKeeper (cluster) and embedded (standalone), with one contract suite.
/// Thread-safe. Reads (<see cref="GetAsync"/>, <see cref="ExistsAsync"/>, <see cref="GetChildrenAsync"/>) register a
/// one-shot watch; its firing is delivered to every registered listener as a <see cref="Notification"/>, in order.
/// </summary>
public interface IMetadataStore : IAsyncDisposable
{
    /// <summary>
    /// The id of the current session: ephemerals created now carry it as <see cref="Stat.EphemeralOwner"/>. Changes
    /// when a new session replaces an expired one (after <see cref="SessionEvent.SessionReestablished"/>).
    /// </summary>
    long SessionId { get; }

    /// <summary>The record, or null when it does not exist. Sets a data watch.</summary>
    Task<GetResult?> GetAsync(string path, CancellationToken ct = default);

    /// <summary>Whether the record exists. Sets an existence watch.</summary>
    Task<bool> ExistsAsync(string path, CancellationToken ct = default);

    /// <summary>Names (not paths) of the children, sorted ordinally; empty when the record does not exist. Sets a child watch.</summary>
    Task<IReadOnlyList<string>> GetChildrenAsync(string path, CancellationToken ct = default);

    /// <summary>
    /// Writes a persistent record. <paramref name="expectedVersion"/>: null = unconditional (create or overwrite),
    /// -1 = must not exist (throws NodeExistsException), ≥ 0 = compare-and-set (throws BadVersionException, or
    /// NoNodeException when missing). Missing parents are created. Returns the new stat.
    /// </summary>
    Task<Stat> PutAsync(string path, ReadOnlyMemory<byte> value, long? expectedVersion, CancellationToken ct = default);

    /// <summary>
    /// Creates a record with <paramref name="options"/> (ephemeral and/or sequential); missing parents are created
    /// persistently. Returns the path actually created (with the sequential suffix). Throws NodeExistsException.
    /// </summary>
    Task<string> CreateAsync(string path, ReadOnlyMemory<byte> value, CreateOptions options, CancellationToken ct = default);

    /// <summary>Deletes a record; null = any version. Throws NoNodeException, BadVersionException, NotEmptyException.</summary>
    Task DeleteAsync(string path, long? expectedVersion, CancellationToken ct = default);

    /// <summary>Deletes a record and everything under it (not atomic). No error when it does not exist.</summary>
    Task DeleteRecursiveAsync(string path, CancellationToken ct = default);

    /// <summary>Registers a listener for change notifications; dispose the result to unregister.</summary>
    IDisposable RegisterListener(Action<Notification> listener);

    /// <summary>Raised on session state changes (connection loss, expiry, re-establishment).</summary>
    event Action<SessionEvent>? SessionEventRaised;
}
