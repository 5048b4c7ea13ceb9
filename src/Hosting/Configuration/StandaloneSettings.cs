using Pulsarish.Broker;
using Pulsarish.Ledgers;

namespace Pulsarish.Hosting.Configuration;

/// <summary>
/// Settings of <c>pulsarish standalone</c>: sections <c>Standalone</c>, <c>Broker</c> (the in-process broker's engine)
/// and <c>LedgerClient</c> (the broker's ledger client).
/// </summary>
public sealed class StandaloneSettings : ComponentSettings
{
    public required StandaloneOptions Standalone { get; init; }

    internal static StandaloneSettings Bind(PulsarishConfiguration configuration)
    {
        var failures = new List<string>();
        var standalone = configuration.Bind(ConfigurationSections.Standalone, new StandaloneOptions(), failures);
        standalone.Broker = configuration.Bind(ConfigurationSections.Broker, new BrokerOptions(), failures);
        standalone.LedgerClient = configuration.Bind(ConfigurationSections.LedgerClient, new LedgerClientOptions(), failures);
        var settings = new StandaloneSettings { Standalone = standalone };
        settings.Add(ConfigurationSections.Standalone, standalone);
        settings.Add(ConfigurationSections.Broker, standalone.Broker);
        settings.Add(ConfigurationSections.LedgerClient, standalone.LedgerClient);
        settings.Failures.AddRange(failures);
        return settings;
    }
}
