using System.CommandLine;
using Pulsarish.Protocol.Errors;
using Microsoft.Extensions.Logging;
using Pulsarish.Hosting;
using Pulsarish.Hosting.Supervisor;
using Pulsarish.Metadata;
using S = Pulsarish.Hosting.Configuration.ConfigurationSections;

namespace Pulsarish.Cli;

/// <summary>
/// <c>pulsarish bookie [--config bookie.json]</c>: runs one bookie (<see cref="BookieHost"/>) until SIGTERM or Ctrl-C,
/// then stops gracefully (in-flight adds finish, the write cache is flushed). Every setting comes from configuration
/// (sections Metadata, Bookie, Storage, Registration, AutoRecovery, LedgerClient); the flags override the keys they
/// name. Prints <c>bookie ready HOST:PORT</c> on stdout once it listens; logs go to stderr.
/// </summary>
public static class BookieCommand
{
    public static Command Create()
    {
        var arguments = new Arguments();
        var command = new Command("bookie", "Run a bookie (storage node)");
        arguments.AddTo(command);
        command.SetAction((parse, ct) => ConfigArguments.RunAsync(async () =>
        {
            var settings = ConfigArguments.Build(parse.GetValue(arguments.ConfigFile), arguments.Overrides(parse)).Bookie();
            settings.EnsureValid();
            if ((ListenPort.Check(settings.Bookie.BindAddress, settings.Bookie.Port, "--port")
                 ?? ListenPort.Check(settings.Bookie.BindAddress, settings.Bookie.MetricsPort, "--metrics-port")) is int busy)
            {
                return busy;
            }

            using var supervised = SupervisedChildAgent.Start();
            var setup = new BookieHostSetup
            {
                ConfigureLogging = ConfigArguments.ConsoleLogging(parse.GetValue(arguments.LogLevel)),
                StorageFactory = settings.StorageFactory,
            };
            BookieHost server;
            try
            {
                server = await BookieHost.StartAsync(settings.Bookie, setup, ct);
            }
            catch (Exception e) when (ListenPort.IsAddressInUse(e))
            {
                return ListenPort.Report(settings.Bookie.BindAddress, settings.Bookie.Port, "--port");
            }
            catch (InvalidCookieException e)
            {
                // Swapped, empty or foreign disks under a known id (or a decommissioned id): refuse to join.
                await Console.Error.WriteLineAsync($"bookie refused to start: {e.Message}");
                return 3;
            }
            catch (CorruptDataException e)
            {
                // Damaged storage (a journal file before the last one, an unknown record kind, …): the message names the
                // file and offset and how to accept the loss; a stack trace would add nothing.
                await Console.Error.WriteLineAsync($"bookie refused to start: {e.Message}");
                return 4;
            }

            await using var serverScope = server;
            Console.Out.WriteLine($"bookie ready {server.Address}");
            if (server.MetricsPort is int metrics)
            {
                Console.Out.WriteLine($"bookie metrics http://{settings.Bookie.BindAddress}:{metrics}/metrics");
            }

            Console.Out.Flush();
            await ConfigArguments.UntilCancelledAsync(ct);
            await server.StopAsync();
            Console.Out.WriteLine("bookie stopped");
            return 0;
        }));
        return command;
    }

    /// <summary>The bookie's flags and the keys they set.</summary>
    public sealed class Arguments : IComponentArguments
    {
        private readonly Option<string> _journalDir = new("--journal-dir") { Description = "Journal directory [Bookie:JournalDir]" };
        private readonly Option<string> _ledgersDir = new("--ledgers-dir") { Description = "Entry log directory [Bookie:LedgersDir]" };
        private readonly Option<string> _indexDir = new("--index-dir") { Description = "Index (RocksDB) directory [Bookie:IndexDir]" };
        private readonly Option<int> _port = new("--port") { Description = "gRPC port; 0 picks a free one [Bookie:Port]" };
        private readonly Option<string> _bindAddress = new("--bind-address") { Description = "Address to listen on [Bookie:BindAddress]" };
        private readonly Option<string> _bookieId = new("--bookie-id") { Description = "Bookie id (default: HOST:PORT) [Bookie:BookieId]" };
        private readonly Option<int> _maxEntryBytes = new("--max-entry-bytes") { Description = "Largest accepted entry payload [Bookie:MaxEntryBytes]" };
        private readonly Option<int> _groupWaitMicros = new("--group-wait-micros") { Description = "Journal group commit wait [Bookie:GroupWaitMicros]" };
        private readonly Option<int> _maxGroupBytes = new("--max-group-bytes") { Description = "Journal group commit size threshold [Bookie:MaxGroupBytes]" };
        private readonly Option<bool> _bufferedWrites = new("--buffered-writes")
        {
            Description = "Journal and entry logs write through the page cache instead of O_DIRECT [Bookie:DirectWrites=false]",
        };
        private readonly Option<bool> _acceptJournalCorruption = new("--accept-journal-corruption")
        {
            Description = "Start over a damaged journal: truncate it at the damage (losing the acknowledged entries after "
                + "it), log file and offset, and serve read-only until restarted [Bookie:AcceptJournalCorruption]",
        };
        private readonly Option<int> _metricsPort = new("--metrics-port") { Description = "HTTP port of /metrics (default 8000; 0: a free one; --set Bookie:MetricsPort= turns it off) [Bookie:MetricsPort]" };
        private BookieMetadataArguments? _metadata;

        public Option<string?> ConfigFile { get; } = ConfigArguments.ConfigFileOption();

        public Option<string[]> SetKeys { get; } = ConfigArguments.SetOption();

        public Option<LogLevel> LogLevel { get; } = new("--log-level")
        {
            Description = "Minimum log level (stderr)", DefaultValueFactory = _ => Microsoft.Extensions.Logging.LogLevel.Information,
        };

        public void AddTo(Command command)
        {
            foreach (Option option in new Option[]
            {
                ConfigFile, SetKeys, _journalDir, _ledgersDir, _indexDir, _port, _bindAddress, _bookieId, _maxEntryBytes,
                _groupWaitMicros, _maxGroupBytes, _bufferedWrites, _acceptJournalCorruption, _metricsPort, LogLevel,
            })
            {
                command.Options.Add(option);
            }

            _metadata = BookieMetadataArguments.AddTo(command, bookie: true);
        }

        public ConfigOverrides Overrides(ParseResult parse) => _metadata!.Overrides(new ConfigOverrides(parse).SetAll(SetKeys)
            .Set(_journalDir, $"{S.Bookie}:JournalDir")
            .Set(_ledgersDir, $"{S.Bookie}:LedgersDir")
            .Set(_indexDir, $"{S.Bookie}:IndexDir")
            .Set(_port, $"{S.Bookie}:Port")
            .Set(_bindAddress, $"{S.Bookie}:BindAddress")
            .Set(_bookieId, $"{S.Bookie}:BookieId")
            .Set(_maxEntryBytes, $"{S.Bookie}:MaxEntryBytes")
            .Set(_groupWaitMicros, $"{S.Bookie}:GroupWaitMicros")
            .Set(_maxGroupBytes, $"{S.Bookie}:MaxGroupBytes")
            .Set(_bufferedWrites, $"{S.Bookie}:DirectWrites", buffered => buffered ? "false" : "true")
            .Set(_acceptJournalCorruption, $"{S.Bookie}:AcceptJournalCorruption", accept => accept ? "true" : null)
            .Set(_metricsPort, $"{S.Bookie}:MetricsPort"));
    }
}
