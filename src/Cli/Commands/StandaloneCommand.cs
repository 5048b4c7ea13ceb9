using System.CommandLine;
using Microsoft.Extensions.Logging;
using Pulsarish.Hosting;
using S = Pulsarish.Hosting.Configuration.ConfigurationSections;

namespace Pulsarish.Cli;

/// <summary>
/// <c>pulsarish standalone [--config FILE] [--data-dir ./data/standalone] [--port 6650]</c>: embedded metadata store,
/// 3 bookies and 1 broker in this process (<see cref="StandaloneCluster"/>) until SIGTERM or Ctrl-C. Settings come from
/// configuration (sections Standalone, Broker, LedgerClient); the flags override the keys they name. Prints
/// <c>standalone bookie HOST:PORT</c> per bookie, then <c>standalone ready HOST:PORT</c> on stdout once it serves; logs go to stderr.
/// </summary>
public static class StandaloneCommand
{
    public static Command Create()
    {
        var arguments = new Arguments();
        var command = new Command("standalone", "Run metadata store, 3 bookies and a broker in one process");
        arguments.AddTo(command);
        command.SetAction((parse, ct) => ConfigArguments.RunAsync(async () =>
        {
            var settings = ConfigArguments.Build(parse.GetValue(arguments.ConfigFile), arguments.Overrides(parse)).Standalone();
            settings.EnsureValid();
            var options = settings.Standalone;
            options.ConfigureLogging = ConfigArguments.ConsoleLogging(parse.GetValue(arguments.LogLevel));
            if ((ListenPort.Check(options.BindAddress, options.Port, "--port")
                 ?? ListenPort.Check(options.BindAddress, options.MetricsPort, "--metrics-port")) is int busy)
            {
                return busy;
            }

            StandaloneCluster started;
            try
            {
                started = await StandaloneCluster.StartAsync(options, ct);
            }
            catch (Exception e) when (ListenPort.IsAddressInUse(e))
            {
                return ListenPort.Report(options.BindAddress, options.Port, "--port");
            }

            await using var cluster = started;
            foreach (var bookie in cluster.Bookies)
            {
                Console.Out.WriteLine($"standalone bookie {bookie.Address}");
            }

            Console.Out.WriteLine($"standalone ready {cluster.BrokerAddress}");
            if (cluster.Broker.MetricsPort is int metrics)
            {
                Console.Out.WriteLine($"standalone metrics http://{options.BindAddress}:{metrics}/metrics");
            }

            Console.Out.Flush();
            await ConfigArguments.UntilCancelledAsync(ct);
            await cluster.DisposeAsync();
            Console.Out.WriteLine("standalone stopped");
            return 0;
        }));
        return command;
    }

    /// <summary>The standalone's flags and the keys they set.</summary>
    public sealed class Arguments : IComponentArguments
    {
        private readonly Option<string> _dataDir = new("--data-dir") { Description = "Data directory [Standalone:DataDir]" };
        private readonly Option<int> _port = new("--port") { Description = "Broker gRPC port (0: a free one) [Standalone:Port]" };
        private readonly Option<string> _bindAddress = new("--bind-address") { Description = "Address to listen on [Standalone:BindAddress]" };
        private readonly Option<int> _metricsPort = new("--metrics-port") { Description = "HTTP port of /metrics (default 8080; 0: a free one; --set Standalone:MetricsPort= turns it off) [Standalone:MetricsPort]" };
        private readonly Option<bool> _bufferedWrites = new("--buffered-writes")
        {
            Description = "The bookies' journals and entry logs write through the page cache instead of O_DIRECT [Standalone:DirectWrites=false]",
        };
        private readonly Option<long> _gcIntervalMs = new("--gc-interval-ms")
        {
            Description = "Bookie garbage collection and minor compaction interval [Standalone:GcInterval]",
        };
        private readonly Option<bool> _grpcBookies = new("--grpc-bookies")
        {
            Description = "The broker reaches its in-process bookies over loopback gRPC instead of direct calls [Standalone:LocalBookieTransport=false]",
        };

        public Option<string?> ConfigFile { get; } = ConfigArguments.ConfigFileOption();

        public Option<string[]> SetKeys { get; } = ConfigArguments.SetOption();

        public Option<LogLevel> LogLevel { get; } = new("--log-level")
        {
            Description = "Minimum log level (stderr)", DefaultValueFactory = _ => Microsoft.Extensions.Logging.LogLevel.Warning,
        };

        public void AddTo(Command command)
        {
            foreach (Option option in new Option[] { ConfigFile, SetKeys, _dataDir, _port, _bindAddress, _metricsPort, LogLevel, _grpcBookies, _bufferedWrites, _gcIntervalMs })
            {
                command.Options.Add(option);
            }
        }

        public ConfigOverrides Overrides(ParseResult parse) => new ConfigOverrides(parse).SetAll(SetKeys)
            .Set(_dataDir, $"{S.Standalone}:DataDir")
            .Set(_port, $"{S.Standalone}:Port")
            .Set(_bindAddress, $"{S.Standalone}:BindAddress")
            .Set(_metricsPort, $"{S.Standalone}:MetricsPort")
            .Set(_bufferedWrites, $"{S.Standalone}:DirectWrites", buffered => buffered ? "false" : "true")
            .Set(_grpcBookies, $"{S.Standalone}:LocalBookieTransport", grpc => grpc ? "false" : "true")
            .Set(_gcIntervalMs, $"{S.Standalone}:GcInterval", ms => TimeSpan.FromMilliseconds(ms).ToString("c", System.Globalization.CultureInfo.InvariantCulture));
    }
}
