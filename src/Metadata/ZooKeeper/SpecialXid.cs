namespace Pulsarish.Metadata.ZooKeeper;

/// <summary>Reserved xids of server-initiated or special frames (ClientCnxn).</summary>
internal static class SpecialXid
{
    public const int Notification = -1;
    public const int Ping = -2;
    public const int Auth = -4;
    public const int SetWatches = -8;
}
