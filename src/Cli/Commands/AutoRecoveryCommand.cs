using System.CommandLine;
using Microsoft.Extensions.Logging;
using Pulsarish.Bookie.AutoRecovery;
using Pulsarish.Metadata;

namespace Pulsarish.Cli;

/// <summary>
/// <c>pulsarish autorecovery --metadata-url URL</c>: AutoRecovery outside bookies (BookKeeper's standalone
/// AutoRecoveryMain): an auditor candidate and a replication worker until SIGTERM or Ctrl-C. Prints
/// <c>autorecovery ready ID</c> on stdout; logs go to stderr.
/// </summary>
public static class AutoRecoveryCommand
{
    public static Command Create()
    {
        var id = new Option<string?>("--id") { Description = "Candidate/worker id (default: autorecovery-PID)" };
        var metricsPort = new Option<int?>("--metrics-port") { Description = "HTTP port of /metrics on 127.0.0.1 (off by default)" };
        var logLevel = new Option<LogLevel>("--log-level") { Description = "Minimum log level (stderr)", DefaultValueFactory = _ => LogLevel.Information };
        var command = new Command("autorecovery", "Run the auditor candidate and a replication worker") { id, metricsPort, logLevel };
        var metadata = BookieMetadataArguments.AddTo(command, bookie: false);
        command.SetAction(async (parse, ct) =>
        {
            string? url = metadata.MetadataUrl(parse);
            if (string.IsNullOrWhiteSpace(url))
            {
                await Console.Error.WriteLineAsync("autorecovery: --metadata-url is required");
                return 2;
            }
            using var loggerFactory = LoggerFactory.Create(logging => logging.SetMinimumLevel(parse.GetValue(logLevel))
                .AddSimpleConsole(c =>
                {
                    c.SingleLine = true;
                    c.TimestampFormat = "HH:mm:ss.fff ";
                })
                .AddConsole(c => c.LogToStandardErrorThreshold = LogLevel.Trace));
            string name = parse.GetValue(id) ?? $"autorecovery-{Environment.ProcessId}";
            await using var store = await MetadataStoreFactory.CreateAsync(url, loggerFactory, metadata.SessionTimeout(parse), ct);
            var registry = Prometheus.Metrics.NewCustomRegistry();
            using var metricServer = parse.GetValue(metricsPort) is int port
                ? new Prometheus.KestrelMetricServer("127.0.0.1", port, "/metrics", registry).Start()
                : null;
            await using (var service = AutoRecoveryService.Start(store, metadata.AutoRecovery(parse), name, registry, loggerFactory))
            {
                Console.Out.WriteLine($"autorecovery ready {name}");
                Console.Out.Flush();
                try
                {
                    await Task.Delay(Timeout.Infinite, ct);
                }
                catch (OperationCanceledException)
                {
                    // SIGTERM / Ctrl-C.
                }
            }
            Console.Out.WriteLine("autorecovery stopped");
            return 0;
        });
        return command;
    }
}
