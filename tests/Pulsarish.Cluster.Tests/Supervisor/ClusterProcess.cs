using System.Diagnostics;
using System.Globalization;
using System.Text;
using Pulsarish.Hosting.Supervisor;
using Pulsarish.TestKit;

namespace Pulsarish.Cluster.Tests.Supervisor;

/// <summary>
/// <c>pulsarish cluster up</c> run as a child of the test on a free port range with short ZooKeeper ticks and
/// sessions; torn down by PID (the whole tree) if a test leaves it running.
/// </summary>
internal sealed class ClusterProcess : IAsyncDisposable
{
    public static readonly TimeSpan Patience = TimeSpan.FromSeconds(60);
    private readonly Process _process;
    private readonly StringBuilder _output = new();

    private ClusterProcess(Process process, string dataDir, int basePort)
    {
        _process = process;
        DataDir = dataDir;
        BasePort = basePort;
    }

    public string DataDir { get; }

    public int BasePort { get; }

    public int SupervisorPid => _process.Id;

    public string ZooKeeperConnect => $"127.0.0.1:{BasePort}";

    public bool SupervisorExited => _process.HasExited;

    public string Output
    {
        get
        {
            lock (_output) return _output.ToString();
        }
    }

    /// <summary>Starts the cluster; <paramref name="extra"/> holds option/value pairs overriding the test defaults.</summary>
    public static async Task<ClusterProcess> StartAsync(int bookies, int brokers, params string[] extra)
    {
        int basePort = FreePortRange(40);
        string dataDir = Path.Combine(Path.GetTempPath(), "pulsarish-tests", "cluster-" + Guid.NewGuid().ToString("N"));
        var args = new List<string>
        {
            "cluster", "up", "--data", dataDir,
            "--bookies", bookies.ToString(CultureInfo.InvariantCulture),
            "--brokers", brokers.ToString(CultureInfo.InvariantCulture),
            "--base-port", basePort.ToString(CultureInfo.InvariantCulture),
        };
        var tunables = new Dictionary<string, string>
        {
            ["--zk-tick-ms"] = "200", ["--metadata-session-timeout-ms"] = "3000",
            ["--restart-backoff-ms"] = "300", ["--grace-period-ms"] = "5000",
        };
        for (int i = 0; i + 1 < extra.Length; i += 2) tunables[extra[i]] = extra[i + 1];
        foreach (var (option, value) in tunables) args.AddRange([option, value]);
        var psi = PulsarishBinary.StartInfo(args);
        var process = new Process { StartInfo = psi };
        var cluster = new ClusterProcess(process, dataDir, basePort);
        process.OutputDataReceived += (_, e) => cluster.Remember(e.Data);
        process.ErrorDataReceived += (_, e) => cluster.Remember(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        TestContext.Progress.WriteLine($"cluster supervisor pid {process.Id}, data {dataDir}, base port {basePort}");
        int zookeepers = extra.Contains("--zookeeper") ? 0 : 1;
        await cluster.WaitUntilAsync(s => s.Members.Count == zookeepers + bookies + brokers
                                          && s.Members.All(m => m.State == ChildState.Running && m.Ready && m.Pid is not null),
            "every member running and ready");
        return cluster;
    }

    /// <summary>The current cluster.json, or null.</summary>
    public ClusterStatus? Status() => ClusterSupervisor.ReadStatus(DataDir);

    public async Task<ClusterStatus> WaitUntilAsync(Func<ClusterStatus, bool> condition, string what)
    {
        ClusterStatus? reached = null;
        bool met = await Eventually.Until(() =>
        {
            var status = Status();
            if (status is not null && condition(status))
            {
                reached = status;
                return true;
            }
            if (_process.HasExited) Assert.Fail($"supervisor exited ({_process.ExitCode}) waiting for {what}:\n{Output}");
            return false;
        }, Patience, TimeSpan.FromMilliseconds(100));
        if (!met) Assert.Fail($"timed out waiting for {what}:\n{Output}");
        return reached!;
    }

    /// <summary>Every process of the cluster: supervisor, children and their descendants (the ZooKeeper java).</summary>
    public IReadOnlyList<int> AllPids()
    {
        var pids = new List<int> { _process.Id };
        foreach (var member in Status()!.Members)
        {
            if (member.Pid is not int pid) continue;
            pids.Add(pid);
            pids.AddRange(Descendants(pid));
        }
        return pids;
    }

    public async Task WaitForSupervisorExitAsync(TimeSpan timeout) => await _process.WaitForExitAsync().WaitAsync(timeout);

    public async ValueTask DisposeAsync()
    {
        try
        {
            if (!_process.HasExited) _process.Kill(entireProcessTree: true);
            await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        _process.Dispose();
        try
        {
            Directory.Delete(DataDir, recursive: true);
        }
        catch (IOException)
        {
            // Best effort under the temp folder.
        }
    }

    /// <summary>Alive and not a zombie.</summary>
    public static bool IsAlive(int pid)
    {
        try
        {
            string stat = File.ReadAllText($"/proc/{pid}/stat");
            int close = stat.LastIndexOf(')');
            return close > 0 && stat.Length > close + 2 && stat[close + 2] != 'Z' && stat[close + 2] != 'X';
        }
        catch (IOException)
        {
            return false;
        }
    }

    public static IEnumerable<int> Descendants(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid}/task/{pid}/children");
        }
        catch (IOException)
        {
            yield break;
        }
        foreach (var part in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            int child = int.Parse(part, CultureInfo.InvariantCulture);
            yield return child;
            foreach (int d in Descendants(child)) yield return d;
        }
    }

    private void Remember(string? line)
    {
        if (line is null) return;
        lock (_output)
        {
            if (_output.Length > 64 * 1024) _output.Remove(0, 16 * 1024);
            _output.AppendLine(line);
        }
    }

    /// <summary>A base port whose next <paramref name="count"/> ports were free on 127.0.0.1 a moment ago.</summary>
    private static int FreePortRange(int count)
    {
        var random = new Random();
        for (int attempt = 0; attempt < 200; attempt++)
        {
            int basePort = random.Next(20000, 60000 - count);
            bool free = true;
            for (int p = basePort; p < basePort + count && free; p++)
            {
                try
                {
                    using var listener = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, p);
                    listener.Start();
                }
                catch (System.Net.Sockets.SocketException)
                {
                    free = false;
                }
            }
            if (free) return basePort;
        }
        throw new InvalidOperationException("no free port range");
    }
}
