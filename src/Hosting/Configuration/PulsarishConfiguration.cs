using System.Collections;
using System.Reflection;
using Microsoft.Extensions.Configuration;

namespace Pulsarish.Hosting.Configuration;

/// <summary>
/// The configuration of a Pulsarish process, from lowest to highest precedence: the JSON file given by
/// <c>--config FILE</c> (// comments allowed), environment variables <c>PULSARISH_Section__Key</c>, then the
/// command-line flags the CLI maps onto keys (<c>--ack-quorum 3</c> → <c>Broker:ManagedLedgerDefaultAckQuorum</c>).
/// TimeSpan values use the invariant "[d.]hh:mm:ss[.fff]" format ("00:00:05" = 5 s); a nullable key set to "" is null.
/// Keys that name no option are reported by <see cref="UnknownKeys"/> (the CLI warns; they are ignored).
/// </summary>
public sealed class PulsarishConfiguration
{
    /// <summary>Prefix of the environment variables read (<c>PULSARISH_Broker__ManagedLedgerMaxEntriesPerLedger</c>).</summary>
    public const string EnvironmentPrefix = "PULSARISH_";

    private PulsarishConfiguration(IConfigurationRoot root, string? file)
    {
        Root = root;
        File = file;
    }

    /// <summary>
    /// Defaults of the server processes (<c>pulsarish broker|bookie|standalone</c>) where they differ from the options
    /// classes' own, which in-process hosts and tests use: Prometheus <c>/metrics</c> is on at Pulsar's
    /// <c>webServicePort</c> (8080) and BookKeeper's <c>prometheusStatsHttpPort</c> (8000). Lowest precedence; an empty
    /// value (<c>--set BrokerServer:MetricsPort=</c>) turns the endpoint off.
    /// </summary>
    public static readonly IReadOnlyDictionary<string, string?> ProcessDefaults = new Dictionary<string, string?>
    {
        ["BrokerServer:MetricsPort"] = "8080",
        ["Bookie:MetricsPort"] = "8000",
        ["Standalone:MetricsPort"] = "8080",
    };

    /// <summary>The merged configuration.</summary>
    public IConfigurationRoot Root { get; }

    /// <summary>Full path of the JSON file read, or null.</summary>
    public string? File { get; }

    /// <summary>
    /// Reads <paramref name="configFile"/> (optional), the <c>PULSARISH_</c> environment and
    /// <paramref name="overrides"/> (keys <c>Section:Key</c>, highest precedence).
    /// </summary>
    /// <exception cref="InvalidConfigurationException">The file is missing or not valid JSON.</exception>
    public static PulsarishConfiguration Build(string? configFile, IEnumerable<KeyValuePair<string, string?>>? overrides = null)
    {
        string? path = string.IsNullOrWhiteSpace(configFile) ? null : Path.GetFullPath(configFile);
        var builder = new ConfigurationBuilder();
        builder.AddInMemoryCollection(ProcessDefaults);
        if (path is not null)
        {
            if (!System.IO.File.Exists(path))
            {
                throw new InvalidConfigurationException($"config file {path} not found");
            }

            builder.AddJsonFile(path, optional: false, reloadOnChange: false);
        }

        builder.AddEnvironmentVariables(EnvironmentPrefix);
        builder.AddInMemoryCollection(overrides ?? []);
        try
        {
            return new PulsarishConfiguration(builder.Build(), path);
        }
        catch (InvalidDataException e)
        {
            throw new InvalidConfigurationException($"config file {path} is not valid JSON: {e.InnerException?.Message ?? e.Message}", e);
        }
    }

    /// <summary>Settings of <c>pulsarish broker</c>.</summary>
    public BrokerSettings Broker() => BrokerSettings.Bind(this);

    /// <summary>Settings of <c>pulsarish bookie</c>.</summary>
    public BookieSettings Bookie() => BookieSettings.Bind(this);

    /// <summary>Settings of <c>pulsarish autorecovery</c>.</summary>
    public AutoRecoverySettings AutoRecovery() => AutoRecoverySettings.Bind(this);

    /// <summary>Settings of <c>pulsarish standalone</c>.</summary>
    public StandaloneSettings Standalone() => StandaloneSettings.Bind(this);

    /// <summary>Settings of <c>pulsarish cluster up</c>.</summary>
    public SupervisorSettings Supervisor() => SupervisorSettings.Bind(this);

    /// <summary>
    /// Binds section <paramref name="section"/> onto <paramref name="options"/> (its defaults stay where the
    /// configuration is silent), then validates it (<see cref="OptionsValidation"/>) unless told not to. Conversion
    /// and validation failures go to <paramref name="failures"/>, each naming its key.
    /// </summary>
    public T Bind<T>(string section, T options, List<string> failures, bool validate = true)
        where T : class
    {
        try
        {
            Root.GetSection(section).Bind(options);
        }
        catch (InvalidOperationException e)
        {
            // "Failed to convert configuration value 'x' at 'Broker:Key' to type 'System.Int32'."
            var match = System.Text.RegularExpressions.Regex.Match(e.Message, "value '(.*)' at '([^']+)' to type '(?:System\\.)?([^']+)'");
            failures.Add(match.Success
                ? $"{match.Groups[2].Value} must be a {match.Groups[3].Value}{(match.Groups[3].Value == nameof(TimeSpan) ? " ([d.]hh:mm:ss[.fff])" : "")}, was '{match.Groups[1].Value}'"
                : e.Message);
            return options;
        }

        if (validate)
        {
            failures.AddRange(OptionsValidation.Validate(section, options));
        }

        return options;
    }

    /// <summary>Keys set (in the file, the environment or overrides) that name no option of any section.</summary>
    public IReadOnlyList<string> UnknownKeys()
    {
        var unknown = new List<string>();
        foreach (var (key, value) in Root.AsEnumerable())
        {
            if (value is null)
            {
                continue; // an object, not a leaf
            }

            string[] parts = key.Split(ConfigurationPath.KeyDelimiter);
            bool known = parts.Length == 2 && ConfigurationSections.All.TryGetValue(parts[0], out var type)
                && type.GetProperty(parts[1], BindingFlags.Public | BindingFlags.Instance | BindingFlags.IgnoreCase) is { } property
                && ConfigurationSections.IsKey(property);
            if (!known)
            {
                unknown.Add(key);
            }
        }

        unknown.Sort(StringComparer.Ordinal);
        return unknown;
    }
}
