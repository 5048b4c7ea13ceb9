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
        var defaults = new SupervisorOptions();
        var data = DataOption();
        var zookeeper = new Option<string>("--zookeeper")
        {
            Description = "'auto' starts a ZooKeeper child; otherwise host:port[,host:port] of an existing ensemble",
            DefaultValueFactory = _ => "auto",
        };
        var bookies = new Option<int>("--bookies") { Description = "Number of bookies", DefaultValueFactory = _ => defaults.Bookies };
        var brokers = new Option<int>("--brokers") { Description = "Number of brokers", DefaultValueFactory = _ => defaults.Brokers };
        var basePort = new Option<int?>("--base-port")
        {
            Description = "ZooKeeper on N, bookies on N+10+i, brokers on N+20+i (HTTP N+30+i); default 2181/3181/6650/8080",
        };
        var maxRss = new Option<int?>("--max-rss-mb") { Description = "Restart a child whose resident memory exceeds this" };
        var tick = new Option<int>("--zk-tick-ms") { Description = "ZooKeeper tickTime", DefaultValueFactory = _ => defaults.ZooKeeperTickMillis };
        var session = new Option<int>("--metadata-session-timeout-ms")
        {
            Description = "Session timeout of bookies and brokers",
            DefaultValueFactory = _ => (int)defaults.MetadataSessionTimeout.TotalMilliseconds,
        };
        var grace = new Option<int>("--grace-period-ms")
        {
            Description = "Between SIGTERM and SIGKILL when stopping a child", DefaultValueFactory = _ => (int)defaults.GracePeriod.TotalMilliseconds,
        };
        var heartbeat = new Option<int>("--heartbeat-timeout-ms")
        {
            Description = "Restart a child silent for this long", DefaultValueFactory = _ => (int)defaults.HeartbeatTimeout.TotalMilliseconds,
        };
        var backoff = new Option<int>("--restart-backoff-ms")
        {
            Description = "First restart delay (doubles per crash)", DefaultValueFactory = _ => (int)defaults.InitialRestartBackoff.TotalMilliseconds,
        };
        var command = new Command("up", "Start the cluster and supervise it until Ctrl-C, SIGTERM or 'cluster down'")
        {
            data, zookeeper, bookies, brokers, basePort, maxRss, tick, session, grace, heartbeat, backoff,
        };
        command.SetAction(async (parse, ct) =>
        {
            var options = new SupervisorOptions
            {
                DataDir = parse.GetValue(data)!,
                ZooKeeper = parse.GetValue(zookeeper)!,
                Bookies = parse.GetValue(bookies),
                Brokers = parse.GetValue(brokers),
                BasePort = parse.GetValue(basePort),
                MaxRssBytes = parse.GetValue(maxRss) is int mb ? mb * 1024L * 1024 : null,
                ZooKeeperTickMillis = parse.GetValue(tick),
                MetadataSessionTimeout = TimeSpan.FromMilliseconds(parse.GetValue(session)),
                GracePeriod = TimeSpan.FromMilliseconds(parse.GetValue(grace)),
                HeartbeatTimeout = TimeSpan.FromMilliseconds(parse.GetValue(heartbeat)),
                InitialRestartBackoff = TimeSpan.FromMilliseconds(parse.GetValue(backoff)),
            };
            if (options.Bookies < 0 || options.Brokers < 0 || options.ZooKeeperTickMillis <= 0)
            {
                await Console.Error.WriteLineAsync("--bookies and --brokers must be ≥ 0 and --zk-tick-ms > 0");
                return 2;
            }
            using var loggerFactory = LoggerFactory.Create(b => b
                .AddSimpleConsole(c =>
                {
                    c.SingleLine = true;
                    c.TimestampFormat = "HH:mm:ss.fff ";
                })
                .AddConsole(c => c.LogToStandardErrorThreshold = LogLevel.Trace));
            try
            {
                await new ClusterSupervisor(options, loggerFactory).RunAsync(ct);
                return 0;
            }
            catch (Exception e) when (e is InvalidOperationException or TimeoutException or IOException)
            {
                await Console.Error.WriteLineAsync($"cluster up failed: {e.Message}");
                return 1;
            }
        });
        return command;
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
