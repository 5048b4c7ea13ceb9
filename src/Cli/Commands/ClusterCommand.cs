using Pulsarish.Hosting;
using System.CommandLine;
using System.Diagnostics;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Pulsarish.Hosting.Supervisor;
using Pulsarish.Metadata;

namespace Pulsarish.Cli;

/// <summary>
/// <c>pulsarish cluster up|down|status</c>: a local cluster of ZooKeeper, bookies and brokers as supervised child
/// processes on loopback (DESIGN.md §1).
/// </summary>
public static class ClusterCommand
{
    private static readonly TimeSpan StatusMetadataTimeout = TimeSpan.FromSeconds(5);

    public static Command Create()
    {
        var command = new Command("cluster", "Run a local cluster (ZooKeeper, bookies, brokers) under a supervisor");
        command.Subcommands.Add(Up());
        command.Subcommands.Add(Down());
        command.Subcommands.Add(Status());
        return command;
    }

    private static Option<string> DataOption() => new("--data")
    {
        Description = "Cluster data directory", DefaultValueFactory = _ => "./data/cluster",
    };

    private static Command Up()
    {
        var arguments = new UpArguments();
        var command = new Command("up", "Start the cluster and supervise it until Ctrl-C, SIGTERM or 'cluster down'");
        arguments.AddTo(command);
        command.SetAction((parse, ct) => ConfigArguments.RunAsync(async () =>
        {
            var settings = ConfigArguments.Build(parse.GetValue(arguments.ConfigFile), arguments.Overrides(parse)).Supervisor();
            settings.EnsureValid();
            using var loggerFactory = LoggerFactory.Create(b => b
                .AddSimpleConsole(c =>
                {
                    c.SingleLine = true;
                    c.TimestampFormat = "HH:mm:ss.fff ";
                })
                .AddConsole(c => c.LogToStandardErrorThreshold = LogLevel.Trace));
            try
            {
                await new ClusterSupervisor(settings.Supervisor, loggerFactory).RunAsync(ct);
                return 0;
            }
            catch (Exception e) when (e is InvalidOperationException or TimeoutException or IOException)
            {
                await Console.Error.WriteLineAsync($"cluster up failed: {e.Message}");
                return 1;
            }
        }));
        return command;
    }

    /// <summary>The flags of <c>cluster up</c> and the Supervisor keys they set.</summary>
    public sealed class UpArguments : IComponentArguments
    {
        private readonly Option<string> _data = new("--data") { Description = "Cluster data directory [Supervisor:DataDir]" };
        private readonly Option<string> _zookeeper = new("--zookeeper")
        {
            Description = "'auto' starts a ZooKeeper child; otherwise host:port[,host:port] of an existing ensemble [Supervisor:ZooKeeper]",
        };
        private readonly Option<int> _bookies = new("--bookies") { Description = "Number of bookies [Supervisor:Bookies]" };
        private readonly Option<int> _brokers = new("--brokers") { Description = "Number of brokers [Supervisor:Brokers]" };
        private readonly Option<int> _basePort = new("--base-port")
        {
            Description = "ZooKeeper on N, bookies on N+10+i, brokers on N+20+i (HTTP N+30+i); default 2181/3181/6650/8080 [Supervisor:BasePort]",
        };
        private readonly Option<int> _maxRss = new("--max-rss-mb") { Description = "Restart a child whose resident memory exceeds this [Supervisor:MaxRssBytes]" };
        private readonly Option<int> _tick = new("--zk-tick-ms") { Description = "ZooKeeper tickTime [Supervisor:ZooKeeperTickMillis]" };
        private readonly Option<int> _session = new("--metadata-session-timeout-ms")
        {
            Description = "Session timeout of bookies and brokers [Supervisor:MetadataSessionTimeout]",
        };
        private readonly Option<int> _grace = new("--grace-period-ms") { Description = "Between SIGTERM and SIGKILL when stopping a child [Supervisor:GracePeriod]" };
        private readonly Option<int> _heartbeat = new("--heartbeat-timeout-ms") { Description = "Restart a child silent for this long [Supervisor:HeartbeatTimeout]" };
        private readonly Option<int> _backoff = new("--restart-backoff-ms") { Description = "First restart delay (doubles per crash) [Supervisor:InitialRestartBackoff]" };
        private readonly Option<bool> _faultProxies = new("--fault-proxies")
        {
            Description = "Put a fault proxy per bookie and broker in front of ZooKeeper, for 'verify run --faults isolate-*' [Supervisor:FaultProxies]",
        };

        public Option<string?> ConfigFile { get; } = ConfigArguments.ConfigFileOption();

        public Option<string[]> SetKeys { get; } = ConfigArguments.SetOption();

        public void AddTo(Command command)
        {
            foreach (Option option in new Option[]
            {
                ConfigFile, SetKeys, _data, _zookeeper, _bookies, _brokers, _basePort, _maxRss, _tick, _session, _grace, _heartbeat, _backoff, _faultProxies,
            })
            {
                command.Options.Add(option);
            }
        }

        public ConfigOverrides Overrides(ParseResult parse) => new ConfigOverrides(parse).SetAll(SetKeys)
            .Set(_data, "Supervisor:DataDir")
            .Set(_zookeeper, "Supervisor:ZooKeeper")
            .Set(_bookies, "Supervisor:Bookies")
            .Set(_brokers, "Supervisor:Brokers")
            .Set(_basePort, "Supervisor:BasePort")
            .Set(_maxRss, "Supervisor:MaxRssBytes", mb => (mb * 1024L * 1024).ToString(System.Globalization.CultureInfo.InvariantCulture))
            .Set(_tick, "Supervisor:ZooKeeperTickMillis")
            .Set(_session, "Supervisor:MetadataSessionTimeout", ms => ConfigOverrides.Millis(ms))
            .Set(_grace, "Supervisor:GracePeriod", ms => ConfigOverrides.Millis(ms))
            .Set(_heartbeat, "Supervisor:HeartbeatTimeout", ms => ConfigOverrides.Millis(ms))
            .Set(_backoff, "Supervisor:InitialRestartBackoff", ms => ConfigOverrides.Millis(ms))
            .Set(_faultProxies, "Supervisor:FaultProxies");
    }

    private static Command Down()
    {
        var data = DataOption();
        var timeout = new Option<int>("--timeout-ms")
        {
            Description = "How long to wait for the supervisor to stop its children", DefaultValueFactory = _ => 60_000,
        };
        var command = new Command("down", "Stop the cluster whose supervisor runs in --data") { data, timeout };
        command.SetAction(async (parse, ct) =>
        {
            string dataDir = Path.GetFullPath(parse.GetValue(data)!);
            using var supervisor = SupervisorPidFile.FindLive(dataDir);
            if (supervisor is null)
            {
                await Console.Error.WriteLineAsync($"no running cluster supervisor in {dataDir}");
                return 1;
            }
            PosixSignals.Terminate(supervisor.Id);
            var sw = Stopwatch.StartNew();
            var limit = TimeSpan.FromMilliseconds(parse.GetValue(timeout));
            while (!supervisor.HasExited)
            {
                if (sw.Elapsed > limit)
                {
                    await Console.Error.WriteLineAsync($"supervisor pid {supervisor.Id} still running after {limit}");
                    return 1;
                }
                await Task.Delay(100, ct);
                supervisor.Refresh();
            }
            Console.Out.WriteLine($"cluster in {dataDir} stopped");
            return 0;
        });
        return command;
    }

    private static Command Status()
    {
        var data = DataOption();
        var output = new Option<string>("--output") { Description = "text or json", DefaultValueFactory = _ => "text" };
        var command = new Command("status", "Show the members of the cluster in --data and what ZooKeeper says about them") { data, output };
        command.SetAction(async (parse, ct) =>
        {
            string dataDir = Path.GetFullPath(parse.GetValue(data)!);
            var status = ClusterSupervisor.ReadStatus(dataDir);
            if (status is null)
            {
                await Console.Error.WriteLineAsync($"no cluster.json in {dataDir}");
                return 1;
            }
            bool running;
            using (var supervisor = SupervisorPidFile.FindLive(dataDir)) running = supervisor is not null;
            var (bookies, brokers) = await RegisteredAsync(status.MetadataUrl, ct);
            if (parse.GetValue(output) == "json")
            {
                Console.Out.WriteLine(JsonSerializer.Serialize(new
                {
                    supervisorRunning = running, status, registeredBookies = bookies, registeredBrokers = brokers,
                }, ClusterSupervisor.Json));
                return running ? 0 : 3;
            }
            Console.Out.WriteLine($"supervisor: {(running ? $"running (pid {status.SupervisorPid})" : "not running")}");
            Console.Out.WriteLine($"metadata:   {status.MetadataUrl}");
            Console.Out.WriteLine($"{"NAME",-12} {"ROLE",-10} {"ADDRESS",-22} {"PID",-8} {"STATE",-12} {"READY",-6} RESTARTS");
            foreach (var m in status.Members)
                Console.Out.WriteLine($"{m.Name,-12} {m.Role,-10} {m.Address,-22} {m.Pid?.ToString() ?? "-",-8} {m.State,-12} {(m.Ready ? "yes" : "no"),-6} {m.Restarts}");
            Console.Out.WriteLine($"registered bookies: {(bookies is null ? "(metadata unreachable)" : string.Join(", ", bookies))}");
            Console.Out.WriteLine($"registered brokers: {(brokers is null ? "(metadata unreachable)" : string.Join(", ", brokers))}");
            return running ? 0 : 3;
        });
        return command;
    }

    /// <summary>Children of /ledgers/available and /loadbalance/brokers; nulls when the metadata store is unreachable.</summary>
    private static async Task<(IReadOnlyList<string>? Bookies, IReadOnlyList<string>? Brokers)> RegisteredAsync(string metadataUrl, CancellationToken ct)
    {
        if (string.IsNullOrEmpty(metadataUrl)) return (null, null);
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            cts.CancelAfter(StatusMetadataTimeout);
            await using var store = await MetadataStoreFactory.CreateAsync(metadataUrl, null, StatusMetadataTimeout, cts.Token);
            var bookies = (await store.GetChildrenAsync(MetadataPaths.AvailableBookies, cts.Token)).Where(n => n != "readonly").ToList();
            var brokers = await store.GetChildrenAsync(Broker.Ownership.OwnershipPaths.Brokers, cts.Token);
            return (bookies, brokers);
        }
        catch (Exception e) when (e is Pulsarish.Protocol.Errors.MetadataStoreException or OperationCanceledException or IOException
                                      or System.Net.Sockets.SocketException or TimeoutException)
        {
            return (null, null);
        }
    }
}
