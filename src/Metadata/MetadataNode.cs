namespace Pulsarish.Metadata;

/// <summary>A record of the embedded tree. Mutated only under the tree's lock.</summary>
internal sealed class MetadataNode(byte[] data, long ephemeralOwner, long createdMillis)
{
    public byte[] Data { get; set; } = data;

    /// <summary>Data version: 0 on create, +1 per update.</summary>
    public long Version { get; set; }

    /// <summary>Child version (ZooKeeper's cversion): +1 per child create or delete; the sequential suffix source.</summary>
    public long ChildVersion { get; set; }

    /// <summary>Session id owning an ephemeral node; 0 for persistent nodes.</summary>
    public long EphemeralOwner { get; } = ephemeralOwner;

    public long CreatedMillis { get; } = createdMillis;

    public long ModifiedMillis { get; set; } = createdMillis;

    public SortedSet<string> Children { get; } = new(StringComparer.Ordinal);

    public Stat ToStat() => new(Version, EphemeralOwner != 0, CreatedMillis, ModifiedMillis, EphemeralOwner);
}
