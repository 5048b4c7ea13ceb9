using Microsoft.Extensions.Logging;
using Pulsarish.Bookie;
using Pulsarish.Bookie.AutoRecovery;
using Pulsarish.Bookie.Registration;
using Pulsarish.Bookie.Storage;
using Pulsarish.Ledgers;

namespace Pulsarish.Hosting.Configuration;

/// <summary>
/// Settings of <c>pulsarish bookie</c>: sections <c>Metadata</c> (optional for a bookie: without a URL it runs without
/// cookie, registration, GC and AutoRecovery), <c>Bookie</c>, <c>Storage</c> (defaults derived from the Bookie section:
/// directories, group commit, entry size; its own keys override), <c>Registration</c> (MetadataUrl and SessionTimeout
/// come from <c>Metadata</c>), <c>AutoRecovery</c> and <c>LedgerClient</c> (AutoRecovery's bookie traffic).
/// </summary>
public sealed class BookieSettings : ComponentSettings
{
    public required MetadataOptions Metadata { get; init; }
    public required BookieOptions Bookie { get; init; }
    public required StorageOptions Storage { get; init; }
    public required BookieRegistrationOptions Registration { get; init; }
    public required AutoRecoveryOptions AutoRecovery { get; init; }
    public required LedgerClientOptions LedgerClient { get; init; }

    /// <summary>Opens <see cref="LedgerStorage"/> with the bound <see cref="Storage"/> settings.</summary>
    public LedgerStorageFactory StorageFactory => (_, loggerFactory, ct) =>
    {
        ct.ThrowIfCancellationRequested();
        return ValueTask.FromResult<ILedgerStorage>(new LedgerStorage(Storage, loggerFactory.CreateLogger<LedgerStorage>()));
    };

    internal static BookieSettings Bind(PulsarishConfiguration configuration)
    {
        var failures = new List<string>();
        var metadata = configuration.Bind(ConfigurationSections.Metadata, new MetadataOptions(), failures);
        bool registered = !string.IsNullOrWhiteSpace(metadata.Url);
        var bookie = configuration.Bind(ConfigurationSections.Bookie, new BookieOptions(), failures);
        var ledgerClient = configuration.Bind(ConfigurationSections.LedgerClient, new LedgerClientOptions(), failures);
        var autoRecovery = configuration.Bind(ConfigurationSections.AutoRecovery, new AutoRecoveryOptions { ClientOptions = ledgerClient }, failures);
        var registration = configuration.Bind(ConfigurationSections.Registration, new BookieRegistrationOptions
        {
            MetadataUrl = metadata.Url,
            SessionTimeout = metadata.SessionTimeout,
            AutoRecovery = autoRecovery,
        }, failures, validate: registered);
        registration.MetadataUrl = metadata.Url;
        registration.SessionTimeout = metadata.SessionTimeout;
        registration.AutoRecovery = autoRecovery;
        bookie.Registration = registered ? registration : null;
        // Storage checks only make sense on a valid bookie (its directories are the storage's).
        var storage = configuration.Bind(ConfigurationSections.Storage, DefaultLedgerStorage.ToStorageOptions(bookie), failures,
            validate: failures.Count == 0);
        var settings = new BookieSettings
        {
            Metadata = metadata, Bookie = bookie, Storage = storage, Registration = registration, AutoRecovery = autoRecovery,
            LedgerClient = ledgerClient,
        };
        settings.Add(ConfigurationSections.Metadata, metadata);
        settings.Add(ConfigurationSections.Bookie, bookie);
        settings.Add(ConfigurationSections.Storage, storage);
        settings.Add(ConfigurationSections.Registration, registration);
        settings.Add(ConfigurationSections.AutoRecovery, autoRecovery);
        settings.Add(ConfigurationSections.LedgerClient, ledgerClient);
        settings.Failures.AddRange(failures);
        return settings;
    }
}
