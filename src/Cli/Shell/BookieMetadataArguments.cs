using System.CommandLine;
using Pulsarish.Bookie.AutoRecovery;
using Pulsarish.Bookie.Registration;

namespace Pulsarish.Cli;

/// <summary>
/// Command-line options of a bookie's cluster membership and of AutoRecovery (<c>--metadata-url</c>, <c>--rack</c>,
/// <c>--autorecovery</c>, delays), shared by <c>pulsarish bookie</c> and <c>pulsarish autorecovery</c>.
/// </summary>
public sealed class BookieMetadataArguments
{
    private readonly Option<string?> _metadataUrl = new("--metadata-url")
    {
        Description = "Metadata store (zk:host:port[/chroot], embedded:/dir, memory:); enables cookie, registration, GC",
    };
    private readonly Option<string> _rack = new("--rack") { Description = "Rack announced for rack-aware placement (/region/rack)", DefaultValueFactory = _ => "" };
    private readonly Option<bool?> _autoRecovery = new("--autorecovery") { Description = "Run AutoRecovery in the bookie (default: true with --metadata-url)" };
    private readonly Option<int> _sessionTimeoutMs = new("--metadata-session-timeout-ms")
    {
        Description = "Metadata session timeout", DefaultValueFactory = _ => (int)Pulsarish.Metadata.MetadataStoreFactory.DefaultSessionTimeout.TotalMilliseconds,
    };
    private readonly Option<long> _gcIntervalMs = new("--gc-interval-ms") { Description = "Garbage collection interval", DefaultValueFactory = _ => 900_000 };
    private readonly Option<long> _lostBookieDelayMs = new("--lost-bookie-delay-ms")
    {
        Description = "How long a bookie must be gone before its ledgers are re-replicated", DefaultValueFactory = _ => 30_000,
    };
    private readonly Option<long> _checkIntervalMs = new("--periodic-check-interval-ms")
    {
        Description = "Auditor's full check interval; 0 disables it", DefaultValueFactory = _ => 7L * 24 * 3600 * 1000,
    };
    private readonly Option<long> _openLedgerGraceMs = new("--open-ledger-grace-ms")
    {
        Description = "How long an open ledger's last fragment is left to its writer", DefaultValueFactory = _ => 30_000,
    };
    private readonly Option<int> _maxEntriesPerSecond = new("--replication-entries-per-second")
    {
        Description = "Re-replication throttle per worker", DefaultValueFactory = _ => 10_000,
    };

    private BookieMetadataArguments()
    {
    }

    /// <summary>Adds the options to <paramref name="command"/> (bookie: with rack and in-bookie switch).</summary>
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

    /// <summary>The metadata URL given, or null.</summary>
    public string? MetadataUrl(ParseResult parse) => parse.GetValue(_metadataUrl);

    /// <summary>The bookie's registration settings, or null without <c>--metadata-url</c>.</summary>
    public BookieRegistrationOptions? Registration(ParseResult parse)
    {
        string? url = parse.GetValue(_metadataUrl);
        if (string.IsNullOrWhiteSpace(url))
        {
            return null;
        }
        return new BookieRegistrationOptions
        {
            MetadataUrl = url,
            SessionTimeout = TimeSpan.FromMilliseconds(parse.GetValue(_sessionTimeoutMs)),
            Rack = parse.GetValue(_rack) ?? "",
            AutoRecoveryEnabled = parse.GetValue(_autoRecovery) ?? true,
            GcInterval = TimeSpan.FromMilliseconds(parse.GetValue(_gcIntervalMs)),
            AutoRecovery = AutoRecovery(parse),
        };
    }

    /// <summary>AutoRecovery settings from the command line.</summary>
    public AutoRecoveryOptions AutoRecovery(ParseResult parse)
    {
        long checkMs = parse.GetValue(_checkIntervalMs);
        return new AutoRecoveryOptions
        {
            LostBookieRecoveryDelay = TimeSpan.FromMilliseconds(parse.GetValue(_lostBookieDelayMs)),
            PeriodicCheckInterval = checkMs > 0 ? TimeSpan.FromMilliseconds(checkMs) : null,
            OpenLedgerRereplicationGracePeriod = TimeSpan.FromMilliseconds(parse.GetValue(_openLedgerGraceMs)),
            MaxEntriesPerSecond = parse.GetValue(_maxEntriesPerSecond),
        };
    }

    /// <summary>Session timeout from the command line.</summary>
    public TimeSpan SessionTimeout(ParseResult parse) => TimeSpan.FromMilliseconds(parse.GetValue(_sessionTimeoutMs));
}
