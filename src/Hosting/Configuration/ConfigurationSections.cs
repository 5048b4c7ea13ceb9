using Pulsarish.Bookie;
using Pulsarish.Bookie.AutoRecovery;
using Pulsarish.Bookie.Registration;
using Pulsarish.Bookie.Storage;
using Pulsarish.Broker;
using Pulsarish.Broker.Ownership;
using Pulsarish.Broker.Server;
using Pulsarish.Hosting.Supervisor;
using Pulsarish.Ledgers;

namespace Pulsarish.Hosting.Configuration;

/// <summary>
/// The configuration sections and the options class each binds to. A key is <c>Section:Property</c> in a JSON file
/// (<c>{ "Broker": { "ManagedLedgerDefaultAckQuorum": 2 } }</c>) and <c>PULSARISH_Section__Property</c> in the
/// environment. Sections are flat: an options property that is itself an object (e.g.
/// <see cref="BookieOptions.Registration"/>) is its own section.
/// </summary>
public static class ConfigurationSections
{
    public const string Metadata = "Metadata";
    public const string Broker = "Broker";
    public const string BrokerServer = "BrokerServer";
    public const string Ownership = "Ownership";
    public const string LedgerClient = "LedgerClient";
    public const string Bookie = "Bookie";
    public const string Storage = "Storage";
    public const string Registration = "Registration";
    public const string AutoRecovery = "AutoRecovery";
    public const string Standalone = "Standalone";
    public const string Supervisor = "Supervisor";

    /// <summary>Every section and its options class.</summary>
    public static IReadOnlyDictionary<string, Type> All { get; } = new Dictionary<string, Type>(StringComparer.OrdinalIgnoreCase)
    {
        [Metadata] = typeof(MetadataOptions),
        [Broker] = typeof(BrokerOptions),
        [BrokerServer] = typeof(BrokerServerOptions),
        [Ownership] = typeof(OwnershipOptions),
        [LedgerClient] = typeof(LedgerClientOptions),
        [Bookie] = typeof(BookieOptions),
        [Storage] = typeof(StorageOptions),
        [Registration] = typeof(BookieRegistrationOptions),
        [AutoRecovery] = typeof(AutoRecoveryOptions),
        [Standalone] = typeof(StandaloneOptions),
        [Supervisor] = typeof(SupervisorOptions),
    };

    /// <summary>
    /// Whether <paramref name="property"/> is a configuration key: settable, of a scalar type (numbers, strings, bool,
    /// TimeSpan, enums and their nullable forms). Object-valued properties are other sections or code-only hooks.
    /// </summary>
    public static bool IsKey(System.Reflection.PropertyInfo property)
    {
        if (property.SetMethod is not { IsPublic: true } || property.GetIndexParameters().Length > 0)
        {
            return false;
        }

        var type = Nullable.GetUnderlyingType(property.PropertyType) ?? property.PropertyType;
        return type.IsPrimitive || type.IsEnum || type == typeof(string) || type == typeof(TimeSpan) || type == typeof(decimal);
    }
}
