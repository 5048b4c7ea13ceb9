using System.CommandLine;
using Microsoft.Extensions.Logging;
using Pulsarish.Hosting.Configuration;

namespace Pulsarish.Cli;

/// <summary>
/// What every server command shares: <c>--config FILE</c>, building the configuration from file, environment and
/// flags, the warning about unknown keys, and the one-line <c>error: InvalidConfiguration: …</c> with exit code 1.
/// </summary>
public static class ConfigArguments
{
    /// <summary>A new <c>--config</c> option (an option instance belongs to one command).</summary>
    public static Option<string?> ConfigFileOption() => new("--config")
    {
        Description = "JSON configuration file (deploy/conf/*.json); PULSARISH_Section__Key variables and flags override it",
    };

    /// <summary>A new <c>--set Section:Key=Value</c> option (repeatable): any configuration key from the command line.</summary>
    public static Option<string[]> SetOption() => new("--set")
    {
        Description = "Set any configuration key, e.g. --set LedgerClient:AddTimeout=00:00:05 (repeatable; named flags win)",
        AllowMultipleArgumentsPerToken = false,
    };

    /// <summary>The configuration for <paramref name="configFile"/> and the flags' overrides; warns about unknown keys.</summary>
    public static PulsarishConfiguration Build(string? configFile, IReadOnlyDictionary<string, string?> overrides)
    {
        var configuration = PulsarishConfiguration.Build(configFile, overrides);
        foreach (string key in configuration.UnknownKeys())
        {
            Console.Error.WriteLine($"warning: unknown configuration key '{key}' ignored");
        }

        return configuration;
    }

    /// <summary>Runs <paramref name="run"/>; an invalid configuration prints one line per failure and exits 1.</summary>
    public static async Task<int> RunAsync(Func<Task<int>> run)
    {
        try
        {
            return await run();
        }
        catch (InvalidConfigurationException e)
        {
            foreach (string failure in e.Failures)
            {
                await Console.Error.WriteLineAsync($"error: InvalidConfiguration: {failure}");
            }

            return 1;
        }
    }

    /// <summary>Single-line console logging to stderr at <paramref name="level"/>, framework noise at warnings.</summary>
    public static Action<ILoggingBuilder> ConsoleLogging(LogLevel level) => logging => logging.SetMinimumLevel(level)
        .AddFilter("Microsoft", LogLevel.Warning)
        .AddFilter("Grpc", LogLevel.Warning)
        .AddSimpleConsole(c =>
        {
            c.SingleLine = true;
            c.TimestampFormat = "HH:mm:ss.fff ";
        })
        .AddConsole(c => c.LogToStandardErrorThreshold = LogLevel.Trace);

    /// <summary>Waits for SIGTERM or Ctrl-C (<paramref name="ct"/>).</summary>
    public static async Task UntilCancelledAsync(CancellationToken ct)
    {
        try
        {
            await Task.Delay(Timeout.Infinite, ct);
        }
        catch (OperationCanceledException)
        {
            // SIGTERM / Ctrl-C: the caller stops gracefully.
        }
    }
}
