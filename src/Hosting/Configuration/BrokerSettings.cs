using Pulsarish.Broker;
using Pulsarish.Broker.Ownership;
using Pulsarish.Broker.Server;
using Pulsarish.Ledgers;

namespace Pulsarish.Hosting.Configuration;

/// <summary>
/// Settings of <c>pulsarish broker</c>: sections <c>Metadata</c>, <c>Broker</c>, <c>BrokerServer</c>,
/// <c>Ownership</c> (its BrokerId and BundlesPerNamespace default to the Broker section's BrokerId and
/// DefaultNumberOfNamespaceBundles) and <c>LedgerClient</c>.
/// </summary>
public sealed class BrokerSettings : ComponentSettings
{
    public required MetadataOptions Metadata { get; init; }
    public required BrokerOptions Broker { get; init; }
    public required BrokerServerOptions Server { get; init; }
    public required OwnershipOptions Ownership { get; init; }
    public required LedgerClientOptions LedgerClient { get; init; }

    internal static BrokerSettings Bind(PulsarishConfiguration configuration)
    {
        var failures = new List<string>();
        var metadata = configuration.Bind(ConfigurationSections.Metadata, new MetadataOptions(), failures);
        RequireUrl(metadata, failures);
        var broker = configuration.Bind(ConfigurationSections.Broker, new BrokerOptions(), failures);
        var server = configuration.Bind(ConfigurationSections.BrokerServer, new BrokerServerOptions(), failures);
        var ownership = configuration.Bind(ConfigurationSections.Ownership, new OwnershipOptions
        {
            BrokerId = broker.BrokerId,
            BundlesPerNamespace = broker.DefaultNumberOfNamespaceBundles,
            // Replaced by the bound address at start (port 0 picks one).
            AdvertisedAddress = server.AdvertisedAddress ?? $"{server.BindAddress}:{server.Port}",
        }, failures);
        var ledgerClient = configuration.Bind(ConfigurationSections.LedgerClient, new LedgerClientOptions(), failures);
        var settings = new BrokerSettings
        {
            Metadata = metadata, Broker = broker, Server = server, Ownership = ownership, LedgerClient = ledgerClient,
        };
        settings.Add(ConfigurationSections.Metadata, metadata);
        settings.Add(ConfigurationSections.Broker, broker);
        settings.Add(ConfigurationSections.BrokerServer, server);
        settings.Add(ConfigurationSections.Ownership, ownership);
        settings.Add(ConfigurationSections.LedgerClient, ledgerClient);
        settings.Failures.AddRange(failures);
        return settings;
    }

    internal static void RequireUrl(MetadataOptions metadata, List<string> failures)
    {
        if (string.IsNullOrWhiteSpace(metadata.Url))
        {
            failures.Add($"{ConfigurationSections.Metadata}:{nameof(MetadataOptions.Url)} is required (zk:host:port[/chroot])");
        }
    }
}
