namespace Pulsarish.Metadata.ZooKeeper;

/// <summary>Result of one operation of a multi transaction, in the order of the operations.</summary>
public abstract record OpResult
{
    /// <summary>
    /// A created znode: its actual path (with sequential suffix, chroot stripped) and its stat when the server
    /// reports one (ZooKeeper 3.8 answers a create inside a multi with the path only: then null).
    /// </summary>
    public sealed record CreateResult(string Path, ZkStat? Stat) : OpResult;

    /// <summary>A deleted znode.</summary>
    public sealed record DeleteResult : OpResult;

    /// <summary>The new stat after a set-data.</summary>
    public sealed record SetDataResult(ZkStat Stat) : OpResult;

    /// <summary>A passed version check.</summary>
    public sealed record CheckResult : OpResult;

    /// <summary>
    /// An operation of a failed transaction: <see cref="ZooKeeperErrorCode.Ok"/> for operations before the failing
    /// one, the failure's code for it, <see cref="ZooKeeperErrorCode.RuntimeInconsistency"/> for those after it.
    /// </summary>
    public sealed record ErrorResult(ZooKeeperErrorCode Error) : OpResult;
}
