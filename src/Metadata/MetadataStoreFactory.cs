using Microsoft.Extensions.Logging;
using Pulsarish.Metadata.ZooKeeper;

namespace Pulsarish.Metadata;

/// <summary>
/// Opens a metadata store from a URL:
/// <c>zk:127.0.0.1:2181,127.0.0.1:2182/chroot</c> (ZooKeeper ensemble, optional chroot; <c>zk://…</c> too),
/// <c>embedded:/path/to/dir</c> (durable in-process store, standalone) or <c>memory:</c> (in-memory, unit tests).
/// </summary>
public static class MetadataStoreFactory
{
    public const string ZooKeeperScheme = "zk:";
    public const string EmbeddedScheme = "embedded:";
    public const string MemoryScheme = "memory:";

    /// <summary>Default ZooKeeper session timeout (Pulsar's <c>metadataStoreSessionTimeoutMillis</c>, 30 s).</summary>
    public static readonly TimeSpan DefaultSessionTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Opens the store <paramref name="url"/> names; throws <see cref="ArgumentException"/> for an unknown scheme.</summary>
    public static async Task<IMetadataStore> CreateAsync(
        string url, ILoggerFactory? loggerFactory = null, TimeSpan? sessionTimeout = null, CancellationToken ct = default)
    {
        ArgumentException.ThrowIfNullOrWhiteSpace(url);
        if (url.StartsWith(ZooKeeperScheme, StringComparison.OrdinalIgnoreCase))
        {
            string connectString = url[ZooKeeperScheme.Length..];
            if (connectString.StartsWith("//", StringComparison.Ordinal))
            {
                connectString = connectString[2..]; // zk://host:port also accepted
            }
            var options = new ZooKeeperClientOptions
            {
                ConnectString = connectString,
                SessionTimeout = sessionTimeout ?? DefaultSessionTimeout,
            };
            return await ZooKeeperMetadataStore.ConnectAsync(options, loggerFactory, ct).ConfigureAwait(false);
        }
        if (url.StartsWith(EmbeddedScheme, StringComparison.OrdinalIgnoreCase))
        {
            string directory = url[EmbeddedScheme.Length..];
            if (directory.Length == 0)
            {
                throw new ArgumentException($"no directory in metadata store URL '{url}'", nameof(url));
            }
            return await EmbeddedMetadataStore.OpenAsync(directory, null, loggerFactory, ct).ConfigureAwait(false);
        }
        if (url.Equals(MemoryScheme, StringComparison.OrdinalIgnoreCase))
        {
            return EmbeddedMetadataStore.CreateInMemory(null, loggerFactory);
        }
        throw new ArgumentException(
            $"unknown metadata store URL '{url}' (expected zk:host:port[,host:port][/chroot], embedded:/dir or memory:)", nameof(url));
    }
}
