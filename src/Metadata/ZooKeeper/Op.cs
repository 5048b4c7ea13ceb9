namespace Pulsarish.Metadata.ZooKeeper;

/// <summary>One operation of an atomic <see cref="ZooKeeperClient.MultiAsync"/> transaction.</summary>
public abstract record Op(string Path)
{
    /// <summary>Creates a znode; the result carries the created path and its stat.</summary>
    public static Op Create(string path, byte[] data, CreateMode mode) => new CreateOp(path, data, mode);

    /// <summary>Deletes a znode; <paramref name="version"/> -1 matches any version.</summary>
    public static Op Delete(string path, int version = -1) => new DeleteOp(path, version);

    /// <summary>Replaces the data of a znode; <paramref name="version"/> -1 matches any version.</summary>
    public static Op SetData(string path, byte[] data, int version = -1) => new SetDataOp(path, data, version);

    /// <summary>Fails the transaction unless the znode exists with <paramref name="version"/>.</summary>
    public static Op Check(string path, int version) => new CheckOp(path, version);

    /// <summary>See <see cref="Op.Create"/>.</summary>
    public sealed record CreateOp(string Path, byte[] Data, CreateMode Mode) : Op(Path);

    /// <summary>See <see cref="Op.Delete"/>.</summary>
    public sealed record DeleteOp(string Path, int Version) : Op(Path);

    /// <summary>See <see cref="Op.SetData"/>.</summary>
    public sealed record SetDataOp(string Path, byte[] Data, int Version) : Op(Path);

    /// <summary>See <see cref="Op.Check"/>.</summary>
    public sealed record CheckOp(string Path, int Version) : Op(Path);
}
