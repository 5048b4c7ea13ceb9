using Pulsarish.Protocol.Errors;

namespace Pulsarish.Metadata.ZooKeeper;

/// <summary>Maps ZooKeeper result codes to the typed metadata exceptions (one place).</summary>
internal static class ZooKeeperErrors
{
    public static Exception ToException(int code, string path, long expectedVersion = -1) =>
        (ZooKeeperErrorCode)code switch
        {
            ZooKeeperErrorCode.NoNode => new NoNodeException(path),
            ZooKeeperErrorCode.NodeExists => new NodeExistsException(path),
            ZooKeeperErrorCode.BadVersion => new BadVersionException(path, expectedVersion),
            ZooKeeperErrorCode.NotEmpty => new NotEmptyException(path),
            ZooKeeperErrorCode.ConnectionLoss => new ConnectionLossException($"server reported connection loss for {path}"),
            ZooKeeperErrorCode.SessionExpired => new SessionExpiredException($"session expired ({path})"),
            ZooKeeperErrorCode.MarshallingError => new ProtocolException($"server could not decode the request for {path}"),
            var known when Enum.IsDefined(known) =>
                new MetadataStoreException(known.ToString(), $"ZooKeeper error {known} ({code}) for {path}"),
            _ => new MetadataStoreException("Unknown", $"unknown ZooKeeper error code {code} for {path}"),
        };
}
