using System.Globalization;
using System.Reflection;
using System.Text.Json;
using System.Text.Json.Serialization;
using Microsoft.Extensions.Logging;
using Pulsarish.Metadata;

namespace Pulsarish.Hosting.Supervisor;

/// <summary>
/// <c>pulsarish cluster up</c>: starts ZooKeeper (or uses an existing one), then the bookies, then the brokers, all
/// on loopback as supervised children (<see cref="SupervisedProcess"/>), keeps &lt;data&gt;/cluster.json current,
/// and on stop ends them in reverse order (brokers, bookies, ZooKeeper), each gracefully.
/// </summary>
public sealed class ClusterSupervisor
{
    public const string StatusFileName = "cluster.json";

    /// <summary>What each bookie prints on stdout once it serves (BookieCommand).</summary>
    private const string BookieReadyMarker = "bookie ready";

    /// <summary>What each broker prints on stdout once it serves (BrokerCommand).</summary>
    private const string BrokerReadyMarker = "broker ready";

    private static readonly TimeSpan BookieReadyTimeout = TimeSpan.FromSeconds(120);

    public static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true,
        Converters = { new JsonStringEnumConverter(JsonNamingPolicy.KebabCaseLower) },
    };

    private readonly SupervisorOptions _options;
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger _logger;
    private readonly string _dataDir;
    private readonly string _logDir;
    private readonly object _statusLock = new();
    private readonly List<SupervisedProcess> _children = [];
    private readonly Dictionary<string, MemberFaultProxy> _proxies = new(StringComparer.Ordinal);
    private string _metadataUrl = "";

    public ClusterSupervisor(SupervisorOptions options, ILoggerFactory loggerFactory)
    {
        _options = options;
        _loggerFactory = loggerFactory;
        _logger = loggerFactory.CreateLogger<ClusterSupervisor>();
        _dataDir = Path.GetFullPath(options.DataDir);
        _logDir = Path.Combine(_dataDir, "logs");
    }

    /// <summary>Runs the cluster until <paramref name="ct"/> is cancelled (Ctrl-C, SIGTERM, <c>cluster down</c>).</summary>
    public async Task RunAsync(CancellationToken ct)
    {
        Directory.CreateDirectory(_logDir);
        using (var running = SupervisorPidFile.FindLive(_dataDir))
        {
            if (running is not null && running.Id != Environment.ProcessId)
                throw new InvalidOperationException($"a supervisor (pid {running.Id}) already runs the cluster in {_dataDir}");
        }
        SupervisorPidFile.WriteSelf(_dataDir);
        int zkPort = _options.BasePort ?? 2181;
        using var zkStop = new CancellationTokenSource();
        using var bookieStop = new CancellationTokenSource();
        using var brokerStop = new CancellationTokenSource();
        var zkTasks = new List<Task>();
        var bookieTasks = new List<Task>();
        var brokerTasks = new List<Task>();
        try
        {
            string connect = _options.ZooKeeper;
            if (string.Equals(_options.ZooKeeper, "auto", StringComparison.OrdinalIgnoreCase))
            {
                var zk = Add(ZooKeeperLauncher.Prepare(Path.Combine(_dataDir, "zookeeper"), _logDir, zkPort, _options.ZooKeeperTickMillis));
                zkTasks.Add(zk.RunAsync(zkStop.Token));
                await ZooKeeperLauncher.WaitUntilServingAsync(zkPort, _options.ZooKeeperStartTimeout, ct).ConfigureAwait(false);
                connect = $"127.0.0.1:{zkPort}";
            }
            _metadataUrl = "zk:" + connect;
            if (_options.FaultProxies) StartFaultProxies(connect);

            var bookies = new List<SupervisedProcess>();
            for (int i = 1; i <= _options.Bookies; i++)
            {
                var bookie = Add(BookieSpec(i));
                bookies.Add(bookie);
                bookieTasks.Add(bookie.RunAsync(bookieStop.Token));
            }
            try
            {
                await Task.WhenAll(bookies.Select(b => b.Ready)).WaitAsync(BookieReadyTimeout, ct).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                _logger.LogWarning("Not every bookie is ready after {Timeout}; starting the brokers anyway", BookieReadyTimeout);
            }

            var brokers = new List<SupervisedProcess>();
            for (int i = 1; i <= _options.Brokers; i++)
            {
                var broker = Add(BrokerSpec(i));
                brokers.Add(broker);
                brokerTasks.Add(broker.RunAsync(brokerStop.Token));
            }
            WriteStatus();
            Console.Out.WriteLine($"cluster up: metadata {_metadataUrl}; status in {Path.Combine(_dataDir, StatusFileName)}; logs in {_logDir}");
            Console.Out.Flush();
            try
            {
                // "cluster ready" once every broker serves: clients started after this line find a broker.
                await Task.WhenAll(brokers.Select(b => b.Ready)).WaitAsync(BookieReadyTimeout, ct).ConfigureAwait(false);
                Console.Out.WriteLine($"cluster ready: brokers {string.Join(',', brokers.Select(b => b.Spec.Address))}");
                Console.Out.Flush();
            }
            catch (TimeoutException)
            {
                _logger.LogWarning("Not every broker is ready after {Timeout}", BookieReadyTimeout);
            }
            await Task.Delay(Timeout.Infinite, ct).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Stop requested.
        }
        finally
        {
            _logger.LogInformation("Stopping the cluster");
            await StopTierAsync(brokerStop, brokerTasks).ConfigureAwait(false);
            await StopTierAsync(bookieStop, bookieTasks).ConfigureAwait(false);
            await StopTierAsync(zkStop, zkTasks).ConfigureAwait(false);
            foreach (var proxy in _proxies.Values) await proxy.DisposeAsync().ConfigureAwait(false);
            WriteStatus();
            foreach (var child in _children) child.Dispose();
            SupervisorPidFile.Delete(_dataDir);
            Console.Out.WriteLine("cluster down");
        }
    }

    /// <summary>Reads &lt;data&gt;/cluster.json, or null when there is none.</summary>
    public static ClusterStatus? ReadStatus(string dataDir)
    {
        try
        {
            return JsonSerializer.Deserialize<ClusterStatus>(File.ReadAllText(Path.Combine(dataDir, StatusFileName)), Json);
        }
        catch (Exception e) when (e is IOException or JsonException)
        {
            return null;
        }
    }

    private static async Task StopTierAsync(CancellationTokenSource stop, List<Task> tasks)
    {
        stop.Cancel();
        await Task.WhenAll(tasks).ConfigureAwait(false);
    }

    private SupervisedProcess Add(ChildSpec spec)
    {
        var child = new SupervisedProcess(spec, _options, _logDir, _loggerFactory.CreateLogger("Pulsarish.Supervisor." + spec.Name), WriteStatus);
        lock (_statusLock) _children.Add(child);
        return child;
    }

    private ChildSpec BookieSpec(int index)
    {
        int port = _options.BasePort is int b ? b + 10 + index : 3180 + index;
        int metricsPort = _options.BasePort is int m ? m + 40 + index : 8000 + index;
        string dir = Path.Combine(_dataDir, $"bookie-{index}");
        string address = $"127.0.0.1:{port}";
        string name = $"bookie-{index}";
        var args = new List<string>
        {
            "bookie",
            "--journal-dir", Path.Combine(dir, "journal"),
            "--ledgers-dir", Path.Combine(dir, "ledgers"),
            "--index-dir", Path.Combine(dir, "index"),
            "--bind-address", "127.0.0.1",
            "--port", port.ToString(CultureInfo.InvariantCulture),
            "--bookie-id", address,
            "--metrics-port", metricsPort.ToString(CultureInfo.InvariantCulture),
            "--metadata-url", MetadataUrlOf(name),
            "--metadata-session-timeout-ms", Millis(_options.MetadataSessionTimeout),
        };
        return PulsarishChild(name, "bookie", address, args, BookieReadyMarker);
    }

    private ChildSpec BrokerSpec(int index)
    {
        int port = _options.BasePort is int b ? b + 20 + index : 6649 + index;
        int httpPort = _options.BasePort is int h ? h + 30 + index : 8079 + index;
        string address = $"127.0.0.1:{port}";
        string name = $"broker-{index}";
        var args = new List<string>
        {
            "broker",
            "--broker-id", $"broker-{index}",
            "--bind-address", "127.0.0.1",
            "--port", port.ToString(CultureInfo.InvariantCulture),
            "--http-port", httpPort.ToString(CultureInfo.InvariantCulture),
            "--metadata-url", MetadataUrlOf(name),
            "--metadata-session-timeout-ms", Millis(_options.MetadataSessionTimeout),
        };
        return PulsarishChild(name, "broker", address, args, BrokerReadyMarker);
    }

    /// <summary>
    /// <c>--fault-proxies</c>: one <see cref="MemberFaultProxy"/> per bookie and broker in front of ZooKeeper, on
    /// ZooKeeper's port + 50 + i (bookie i) and + 60 + i (broker i).
    /// </summary>
    private void StartFaultProxies(string connect)
    {
        var first = connect.Split(',')[0];
        int zkPort = int.Parse(first[(first.LastIndexOf(':') + 1)..], CultureInfo.InvariantCulture);
        for (int i = 1; i <= _options.Bookies; i++) AddProxy($"bookie-{i}", zkPort + 50 + i, zkPort);
        for (int i = 1; i <= _options.Brokers; i++) AddProxy($"broker-{i}", zkPort + 60 + i, zkPort);
        _logger.LogInformation("Fault proxies in front of ZooKeeper: {Proxies}", string.Join(", ", _proxies.Select(p => $"{p.Key} via {p.Value.Address}")));
    }

    private void AddProxy(string member, int port, int zkPort) =>
        _proxies[member] = new MemberFaultProxy(_dataDir, member, port, zkPort, _loggerFactory.CreateLogger("Pulsarish.Supervisor.FaultProxy." + member));

    private string MetadataUrlOf(string member) => _proxies.TryGetValue(member, out var proxy) ? "zk:" + proxy.Address : _metadataUrl;

    /// <summary>This executable again: the apphost, or <c>dotnet pulsarish.dll</c>.</summary>
    private static ChildSpec PulsarishChild(string name, string role, string address, List<string> args, string? readyMarker)
    {
        string host = Environment.ProcessPath ?? "dotnet";
        if (Path.GetFileNameWithoutExtension(host).Equals("dotnet", StringComparison.OrdinalIgnoreCase))
        {
            args.Insert(0, Assembly.GetEntryAssembly()!.Location);
        }
        return new ChildSpec(name, role, address, host, args, SendsHeartbeats: true, readyMarker);
    }

    private static string Millis(TimeSpan t) => ((long)t.TotalMilliseconds).ToString(CultureInfo.InvariantCulture);

    private void WriteStatus()
    {
        lock (_statusLock)
        {
            var members = _children.Select(c => new ClusterMemberStatus(
                c.Spec.Name, c.Spec.Role, c.Spec.Address, c.Pid, c.State, c.IsReady, c.Restarts, c.LogFile)).ToList();
            var status = new ClusterStatus(
                Environment.ProcessId,
                _metadataUrl,
                members.Where(m => m.Role == "bookie").Select(m => m.Address).ToList(),
                members.Where(m => m.Role == "broker").Select(m => m.Address).ToList(),
                members,
                DateTimeOffset.UtcNow.ToUnixTimeMilliseconds(),
                (long)_options.MetadataSessionTimeout.TotalMilliseconds,
                (long)_options.HeartbeatTimeout.TotalMilliseconds,
                _proxies.Count > 0);
            string path = Path.Combine(_dataDir, StatusFileName);
            try
            {
                AtomicFile.Write(path, JsonSerializer.SerializeToUtf8Bytes(status, Json));
            }
            catch (IOException e)
            {
                _logger.LogWarning(e, "Cannot write {Path}", path);
            }
        }
    }
}
