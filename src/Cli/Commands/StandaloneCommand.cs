using Pulsarish.Hosting;
using System.CommandLine;
using Microsoft.Extensions.Logging;

namespace Pulsarish.Cli;

/// <summary>
/// <c>pulsarish standalone [--data-dir ./data/standalone] [--port 6650]</c>: embedded metadata store, 3 bookies and
/// 1 broker in this process until SIGTERM or Ctrl-C. Prints <c>standalone ready HOST:PORT</c> on stdout once it
/// serves; logs go to stderr.
/// </summary>
public static class StandaloneCommand
{
    public static Command Create()
    {
        var defaults = new StandaloneOptions();
        var dataDir = new Option<string>("--data-dir") { Description = "Data directory", DefaultValueFactory = _ => defaults.DataDir };
        var port = new Option<int>("--port") { Description = "Broker gRPC port (0: a free one)", DefaultValueFactory = _ => defaults.Port };
        var bindAddress = new Option<string>("--bind-address") { Description = "Address to listen on", DefaultValueFactory = _ => defaults.BindAddress };
        var metricsPort = new Option<int?>("--metrics-port") { Description = "HTTP port of /metrics (off by default)" };
        var logLevel = new Option<LogLevel>("--log-level") { Description = "Minimum log level (stderr)", DefaultValueFactory = _ => LogLevel.Warning };
        var bufferedWrites = new Option<bool>("--buffered-writes")
        {
            Description = "The bookies' journals and entry logs write through the page cache instead of O_DIRECT",
        };
        var grpcBookies = new Option<bool>("--grpc-bookies")
        {
            Description = "The broker reaches its in-process bookies over loopback gRPC instead of direct calls",
        };

        var command = new Command("standalone", "Run metadata store, 3 bookies and a broker in one process")
        {
            dataDir, port, bindAddress, metricsPort, logLevel, grpcBookies, bufferedWrites,
        };
        command.SetAction(async (parse, ct) =>
        {
            var level = parse.GetValue(logLevel);
            var options = new StandaloneOptions
            {
                DataDir = parse.GetValue(dataDir)!,
                Port = parse.GetValue(port),
                BindAddress = parse.GetValue(bindAddress)!,
                MetricsPort = parse.GetValue(metricsPort),
                LocalBookieTransport = !parse.GetValue(grpcBookies),
                DirectWrites = !parse.GetValue(bufferedWrites),
                ConfigureLogging = logging => logging.SetMinimumLevel(level)
                    .AddFilter("Microsoft", LogLevel.Warning)
                    .AddFilter("Grpc", LogLevel.Warning)
                    .AddSimpleConsole(c =>
                    {
                        c.SingleLine = true;
                        c.TimestampFormat = "HH:mm:ss.fff ";
                    })
                    .AddConsole(c => c.LogToStandardErrorThreshold = LogLevel.Trace),
            };
            await using var cluster = await StandaloneCluster.StartAsync(options, ct);
            Console.Out.WriteLine($"standalone ready {cluster.BrokerAddress}");
            if (cluster.Broker.MetricsPort is int metrics)
            {
                Console.Out.WriteLine($"standalone metrics http://{options.BindAddress}:{metrics}/metrics");
            }

            Console.Out.Flush();
            try
            {
                await Task.Delay(Timeout.Infinite, ct);
            }
            catch (OperationCanceledException)
            {
                // SIGTERM / Ctrl-C: fall through to the graceful stop.
            }

            await cluster.DisposeAsync();
            Console.Out.WriteLine("standalone stopped");
            return 0;
        });
        return command;
    }
}
