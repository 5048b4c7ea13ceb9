namespace Pulsarish.Metadata.ZooKeeper;

/// <summary>The ZooKeeper Stat record of a znode (zxids, times in epoch milliseconds, versions, sizes).</summary>
public sealed record ZkStat(
    long Czxid,
    long Mzxid,
    long Ctime,
    long Mtime,
    int Version,
    int Cversion,
    int Aversion,
    long EphemeralOwner,
    int DataLength,
    int NumChildren,
    long Pzxid)
{
    /// <summary>Size of the Stat record on the wire.</summary>
    internal const int WireBytes = 68;
}
