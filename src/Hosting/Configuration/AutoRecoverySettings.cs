using Pulsarish.Bookie.AutoRecovery;
using Pulsarish.Ledgers;

namespace Pulsarish.Hosting.Configuration;

/// <summary>
/// Settings of <c>pulsarish autorecovery</c>: sections <c>Metadata</c> (URL required), <c>AutoRecovery</c> and
/// <c>LedgerClient</c> (timeouts of the worker's reads, recovery adds and fencing).
/// </summary>
public sealed class AutoRecoverySettings : ComponentSettings
{
    public required MetadataOptions Metadata { get; init; }
    public required AutoRecoveryOptions AutoRecovery { get; init; }
    public required LedgerClientOptions LedgerClient { get; init; }

    internal static AutoRecoverySettings Bind(PulsarishConfiguration configuration)
    {
        var failures = new List<string>();
        var metadata = configuration.Bind(ConfigurationSections.Metadata, new MetadataOptions(), failures);
        BrokerSettings.RequireUrl(metadata, failures);
        var ledgerClient = configuration.Bind(ConfigurationSections.LedgerClient, new LedgerClientOptions(), failures);
        var autoRecovery = configuration.Bind(ConfigurationSections.AutoRecovery, new AutoRecoveryOptions { ClientOptions = ledgerClient }, failures);
        autoRecovery.ClientOptions = ledgerClient;
        var settings = new AutoRecoverySettings { Metadata = metadata, AutoRecovery = autoRecovery, LedgerClient = ledgerClient };
        settings.Add(ConfigurationSections.Metadata, metadata);
        settings.Add(ConfigurationSections.AutoRecovery, autoRecovery);
        settings.Add(ConfigurationSections.LedgerClient, ledgerClient);
        settings.Failures.AddRange(failures);
        return settings;
    }
}
