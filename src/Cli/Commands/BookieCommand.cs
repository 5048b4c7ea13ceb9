using Pulsarish.Hosting;
using System.CommandLine;
using Microsoft.Extensions.Logging;
using Pulsarish.Bookie;
using Pulsarish.Metadata;

namespace Pulsarish.Cli;

/// <summary>
/// <c>pulsarish bookie</c>: runs one bookie until SIGTERM or Ctrl-C, then stops gracefully (in-flight adds finish,
/// the write cache is flushed). Prints <c>bookie ready HOST:PORT</c> on stdout once it listens; logs go to stderr.
/// </summary>
public static class BookieCommand
{
    public static Command Create()
    {
        var defaults = new BookieOptions();
        var journalDir = new Option<string>("--journal-dir") { Description = "Journal directory", Required = true };
        var ledgersDir = new Option<string>("--ledgers-dir") { Description = "Entry log directory", Required = true };
        var indexDir = new Option<string>("--index-dir") { Description = "Index (RocksDB) directory", Required = true };
        var port = new Option<int>("--port")
        {
            Description = "gRPC port; 0 picks a free one", DefaultValueFactory = _ => defaults.Port,
        };
        var bindAddress = new Option<string>("--bind-address")
        {
            Description = "Address to listen on", DefaultValueFactory = _ => defaults.BindAddress,
        };
        var bookieId = new Option<string?>("--bookie-id") { Description = "Bookie id (default: HOST:PORT)" };
        var maxEntryBytes = new Option<int>("--max-entry-bytes")
        {
            Description = "Largest accepted entry payload", DefaultValueFactory = _ => defaults.MaxEntryBytes,
        };
        var groupWaitMicros = new Option<int>("--group-wait-micros")
        {
            Description = "Journal group commit wait", DefaultValueFactory = _ => defaults.GroupWaitMicros,
        };
        var maxGroupBytes = new Option<int>("--max-group-bytes")
        {
            Description = "Journal group commit size threshold", DefaultValueFactory = _ => defaults.MaxGroupBytes,
        };
        var bufferedWrites = new Option<bool>("--buffered-writes")
        {
            Description = "Journal and entry logs write through the page cache instead of O_DIRECT",
        };
        var metricsPort = new Option<int?>("--metrics-port") { Description = "HTTP port of /metrics (off by default)" };
        var logLevel = new Option<LogLevel>("--log-level")
        {
            Description = "Minimum log level (stderr)", DefaultValueFactory = _ => LogLevel.Information,
        };

        var command = new Command("bookie", "Run a bookie (storage node)")
        {
            journalDir, ledgersDir, indexDir, port, bindAddress, bookieId, maxEntryBytes, groupWaitMicros,
            maxGroupBytes, bufferedWrites, metricsPort, logLevel,
        };
        var metadata = BookieMetadataArguments.AddTo(command, bookie: true);
        command.SetAction(async (parse, ct) =>
        {
            var options = new BookieOptions
            {
                JournalDir = parse.GetValue(journalDir)!,
                LedgersDir = parse.GetValue(ledgersDir)!,
                IndexDir = parse.GetValue(indexDir)!,
                Port = parse.GetValue(port),
                BindAddress = parse.GetValue(bindAddress)!,
                BookieId = parse.GetValue(bookieId),
                MaxEntryBytes = parse.GetValue(maxEntryBytes),
                GroupWaitMicros = parse.GetValue(groupWaitMicros),
                MaxGroupBytes = parse.GetValue(maxGroupBytes),
                DirectWrites = !parse.GetValue(bufferedWrites),
                MetricsPort = parse.GetValue(metricsPort),
                Registration = metadata.Registration(parse),
            };
            var level = parse.GetValue(logLevel);
            return await RunAsync(options, level, ct);
        });
        return command;
    }

    private static async Task<int> RunAsync(BookieOptions options, LogLevel level, CancellationToken ct)
    {
        using var supervised = Pulsarish.Hosting.Supervisor.SupervisedChildAgent.Start();
        var setup = new BookieHostSetup
        {
            ConfigureLogging = logging => logging.SetMinimumLevel(level)
                .AddFilter("Microsoft.AspNetCore", LogLevel.Warning)
                .AddSimpleConsole(c =>
                {
                    c.SingleLine = true;
                    c.TimestampFormat = "HH:mm:ss.fff ";
                })
                .AddConsole(c => c.LogToStandardErrorThreshold = LogLevel.Trace),
        };
        BookieHost server;
        try
        {
            server = await BookieHost.StartAsync(options, setup, ct);
        }
        catch (InvalidCookieException e)
        {
            // Swapped, empty or foreign disks under a known id (or a decommissioned id): refuse to join.
            await Console.Error.WriteLineAsync($"bookie refused to start: {e.Message}");
            return 3;
        }
        await using var serverScope = server;
        Console.Out.WriteLine($"bookie ready {server.Address}");
        if (server.MetricsPort is int metrics)
        {
            Console.Out.WriteLine($"bookie metrics http://{options.BindAddress}:{metrics}/metrics");
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

        await server.StopAsync();
        Console.Out.WriteLine("bookie stopped");
        return 0;
    }
}
