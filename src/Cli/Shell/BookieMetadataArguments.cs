using System.CommandLine;
using S = Pulsarish.Hosting.Configuration.ConfigurationSections;

namespace Pulsarish.Cli;

/// <summary>
/// Command-line flags of a bookie's cluster membership and of AutoRecovery (<c>--metadata-url</c>, <c>--rack</c>,
/// <c>--autorecovery</c>, delays), shared by <c>pulsarish bookie</c> and <c>pulsarish autorecovery</c>; each sets the
/// configuration key named in its description.
/// </summary>
public sealed class BookieMetadataArguments
{
    private readonly Option<string> _metadataUrl = new("--metadata-url")
    {
        Description = "Metadata store (zk:host:port[/chroot], embedded:/dir, memory:); enables cookie, registration, GC [Metadata:Url]",
    };
    private readonly Option<string> _rack = new("--rack") { Description = "Rack announced for rack-aware placement (/region/rack) [Registration:Rack]" };
    private readonly Option<bool> _autoRecovery = new("--autorecovery") { Description = "Run AutoRecovery in the bookie (default: true with a metadata URL) [Registration:AutoRecoveryEnabled]" };
    private readonly Option<int> _sessionTimeoutMs = new("--metadata-session-timeout-ms") { Description = "Metadata session timeout [Metadata:SessionTimeout]" };
    private readonly Option<long> _gcIntervalMs = new("--gc-interval-ms") { Description = "Garbage collection interval [Registration:GcInterval]" };
    private readonly Option<long> _lostBookieDelayMs = new("--lost-bookie-delay-ms")
    {
        Description = "How long a bookie must be gone before its ledgers are re-replicated [AutoRecovery:LostBookieRecoveryDelay]",
    };
    private readonly Option<long> _checkIntervalMs = new("--periodic-check-interval-ms")
    {
        Description = "Auditor's full check interval; 0 disables it [AutoRecovery:PeriodicCheckInterval]",
    };
    private readonly Option<long> _openLedgerGraceMs = new("--open-ledger-grace-ms")
    {
        Description = "How long an open ledger's last fragment is left to its writer [AutoRecovery:OpenLedgerRereplicationGracePeriod]",
    };
    private readonly Option<int> _maxEntriesPerSecond = new("--replication-entries-per-second")
    {
        Description = "Re-replication throttle per worker [AutoRecovery:MaxEntriesPerSecond]",
    };

    private BookieMetadataArguments()
    {
    }

    /// <summary>Adds the flags to <paramref name="command"/> (bookie: with rack, in-bookie switch and GC).</summary>
    public static BookieMetadataArguments AddTo(Command command, bool bookie)
    {
        var arguments = new BookieMetadataArguments();
        command.Options.Add(arguments._metadataUrl);
        command.Options.Add(arguments._sessionTimeoutMs);
        if (bookie)
        {
            command.Options.Add(arguments._rack);
            command.Options.Add(arguments._autoRecovery);
            command.Options.Add(arguments._gcIntervalMs);
        }
        command.Options.Add(arguments._lostBookieDelayMs);
        command.Options.Add(arguments._checkIntervalMs);
        command.Options.Add(arguments._openLedgerGraceMs);
        command.Options.Add(arguments._maxEntriesPerSecond);
        return arguments;
    }

    /// <summary>Adds the keys of the flags given to <paramref name="overrides"/>.</summary>
    public ConfigOverrides Overrides(ConfigOverrides overrides) => overrides
        .Set(_metadataUrl, $"{S.Metadata}:Url")
        .Set(_sessionTimeoutMs, $"{S.Metadata}:SessionTimeout", ms => ConfigOverrides.Millis(ms))
        .Set(_rack, $"{S.Registration}:Rack")
        .Set(_autoRecovery, $"{S.Registration}:AutoRecoveryEnabled")
        .Set(_gcIntervalMs, $"{S.Registration}:GcInterval", ConfigOverrides.Millis)
        .Set(_lostBookieDelayMs, $"{S.AutoRecovery}:LostBookieRecoveryDelay", ConfigOverrides.Millis)
        // 0 disables the periodic check: an empty value binds the nullable interval to null.
        .Set(_checkIntervalMs, $"{S.AutoRecovery}:PeriodicCheckInterval", ms => ms > 0 ? ConfigOverrides.Millis(ms) : "")
        .Set(_openLedgerGraceMs, $"{S.AutoRecovery}:OpenLedgerRereplicationGracePeriod", ConfigOverrides.Millis)
        .Set(_maxEntriesPerSecond, $"{S.AutoRecovery}:MaxEntriesPerSecond");
}
