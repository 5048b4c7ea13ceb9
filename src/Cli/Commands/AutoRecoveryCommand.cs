using System.CommandLine;
using Microsoft.Extensions.Logging;
using Pulsarish.Hosting;

namespace Pulsarish.Cli;

/// <summary>
/// <c>pulsarish autorecovery [--config FILE] --metadata-url URL</c>: AutoRecovery outside bookies
/// (<see cref="AutoRecoveryHost"/>): an auditor candidate and a replication worker until SIGTERM or Ctrl-C. Settings
/// come from configuration (sections Metadata, AutoRecovery, LedgerClient); the flags override the keys they name.
/// Prints <c>autorecovery ready ID</c> on stdout; logs go to stderr.
/// </summary>
public static class AutoRecoveryCommand
{
    public static Command Create()
    {
        var arguments = new Arguments();
        var command = new Command("autorecovery", "Run the auditor candidate and a replication worker");
        arguments.AddTo(command);
        command.SetAction((parse, ct) => ConfigArguments.RunAsync(async () =>
        {
            var settings = ConfigArguments.Build(parse.GetValue(arguments.ConfigFile), arguments.Overrides(parse)).AutoRecovery();
            settings.EnsureValid();
            string name = parse.GetValue(arguments.Id) ?? $"autorecovery-{Environment.ProcessId}";
            await using (var host = await AutoRecoveryHost.StartAsync(settings, name, parse.GetValue(arguments.MetricsPort),
                             ConfigArguments.ConsoleLogging(parse.GetValue(arguments.LogLevel)), ct))
            {
                Console.Out.WriteLine($"autorecovery ready {host.Id}");
                Console.Out.Flush();
                await ConfigArguments.UntilCancelledAsync(ct);
            }

            Console.Out.WriteLine("autorecovery stopped");
            return 0;
        }));
        return command;
    }

    /// <summary>The autorecovery flags and the keys they set (<c>--id</c> and <c>--metrics-port</c> are flags only).</summary>
    public sealed class Arguments : IComponentArguments
    {
        private BookieMetadataArguments? _metadata;

        public Option<string?> ConfigFile { get; } = ConfigArguments.ConfigFileOption();

        public Option<string[]> SetKeys { get; } = ConfigArguments.SetOption();

        public Option<string?> Id { get; } = new("--id") { Description = "Candidate/worker id (default: autorecovery-PID)" };

        public Option<int?> MetricsPort { get; } = new("--metrics-port") { Description = "HTTP port of /metrics on 127.0.0.1 (off by default)" };

        public Option<LogLevel> LogLevel { get; } = new("--log-level")
        {
            Description = "Minimum log level (stderr)", DefaultValueFactory = _ => Microsoft.Extensions.Logging.LogLevel.Information,
        };

        public void AddTo(Command command)
        {
            command.Options.Add(ConfigFile);
            command.Options.Add(SetKeys);
            command.Options.Add(Id);
            command.Options.Add(MetricsPort);
            command.Options.Add(LogLevel);
            _metadata = BookieMetadataArguments.AddTo(command, bookie: false);
        }

        public ConfigOverrides Overrides(ParseResult parse) => _metadata!.Overrides(new ConfigOverrides(parse).SetAll(SetKeys));
    }
}
