using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Pulsarish.TestKit;

/// <summary>
/// A real ZooKeeper server (the Debian package's jars) run as a child java process bound to 127.0.0.1 on a free port,
/// with its own temporary data directory and a short tick (session expiry tests run in about a second). Stopped by
/// PID only. Used standalone via <see cref="StartAsync"/> or as a member of a <see cref="ZooKeeperEnsemble"/>.
/// </summary>
public sealed class ZooKeeperServer : IAsyncDisposable
{
    /// <summary>Where the Debian package puts the server; its manifest Class-Path names every dependency.</summary>
    public const string ServerJar = "/usr/share/java/zookeeper.jar";

    private const int MaxOutputLines = 200;
    private static readonly TimeSpan DefaultStartTimeout = TimeSpan.FromSeconds(60);
    private readonly string _rootDir;
    private readonly string _configPath;
    private readonly Queue<string> _output = new();
    private Process? _process;

    private ZooKeeperServer(string rootDir, int clientPort, int? myId)
    {
        _rootDir = rootDir;
        ClientPort = clientPort;
        MyId = myId;
        DataDir = Path.Combine(rootDir, "data");
        Directory.CreateDirectory(DataDir);
        _configPath = Path.Combine(rootDir, "zoo.cfg");
    }

    /// <summary>The tick of every server started here; sessions may be as short as two ticks.</summary>
    public const int TickTimeMillis = 200;

    public int ClientPort { get; }

    /// <summary>The quorum member id, or null for a standalone server.</summary>
    public int? MyId { get; }

    public string ConnectString => $"127.0.0.1:{ClientPort}";

    public string DataDir { get; }

    /// <summary>PID of the running server process, or null when stopped.</summary>
    public int? ProcessId => _process is { HasExited: false } p ? p.Id : null;

    public bool IsRunning => ProcessId is not null;

    /// <summary>The last lines the server printed (for failure messages).</summary>
    public string RecentOutput
    {
        get
        {
            lock (_output) return string.Join('\n', _output);
        }
    }

    /// <summary>Starts a standalone server and waits until it serves clients.</summary>
    public static async Task<ZooKeeperServer> StartAsync(CancellationToken ct = default)
    {
        var server = new ZooKeeperServer(NewRootDir("zk"), FreeLoopbackPort(), myId: null);
        server.WriteConfig(quorum: null);
        try
        {
            await server.StartProcessAsync(ct).ConfigureAwait(false);
            await server.WaitUntilServingAsync(DefaultStartTimeout, ct).ConfigureAwait(false);
        }
        catch
        {
            await server.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return server;
    }

    /// <summary>An ensemble member; <see cref="ZooKeeperEnsemble"/> writes the quorum lines and starts it.</summary>
    internal static ZooKeeperServer CreateMember(string rootDir, int clientPort, int myId, string quorumLines)
    {
        var server = new ZooKeeperServer(rootDir, clientPort, myId);
        File.WriteAllText(Path.Combine(server.DataDir, "myid"), myId.ToString());
        server.WriteConfig(quorumLines);
        return server;
    }

    /// <summary>Kills the server process by PID (SIGKILL, like a crash) and waits for it to exit.</summary>
    public async Task StopAsync()
    {
        var process = _process;
        _process = null;
        if (process is null) return;
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
            using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(30));
            await process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (InvalidOperationException)
        {
            // Already gone.
        }
        finally
        {
            process.Dispose();
        }
    }

    /// <summary>Stops the server if running and starts it again on the same port and data directory.</summary>
    public async Task RestartAsync(CancellationToken ct = default)
    {
        await StopAsync().ConfigureAwait(false);
        await StartProcessAsync(ct).ConfigureAwait(false);
        if (MyId is null) await WaitUntilServingAsync(DefaultStartTimeout, ct).ConfigureAwait(false);
    }

    /// <summary>Starts the java process (does not wait for it to serve).</summary>
    internal Task StartProcessAsync(CancellationToken ct)
    {
        if (IsRunning) return Task.CompletedTask;
        var psi = new ProcessStartInfo("java")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
            WorkingDirectory = _rootDir,
        };
        foreach (var arg in new[]
                 {
                     "-Xshare:auto", "-XX:TieredStopAtLevel=1", "-XX:+UseSerialGC", "-Xmx256m",
                     "-Djava.net.preferIPv4Stack=true", "-Dzookeeper.jmx.log4j.disable=true",
                     "-Dzookeeper.log.dir=" + _rootDir,
                     "-cp", ServerJar, "org.apache.zookeeper.server.quorum.QuorumPeerMain", _configPath,
                 })
            psi.ArgumentList.Add(arg);
        var process = new Process { StartInfo = psi };
        process.OutputDataReceived += (_, e) => Remember(e.Data);
        process.ErrorDataReceived += (_, e) => Remember(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _process = process;
        KillOnExit.Register(process);
        return Task.CompletedTask;
    }

    /// <summary>Polls the 'srvr' four-letter command until the server reports a mode (it serves clients).</summary>
    public async Task WaitUntilServingAsync(TimeSpan timeout, CancellationToken ct = default)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            var process = _process ?? throw new InvalidOperationException($"ZooKeeper on {ConnectString} is not started");
            if (process.HasExited)
                throw new InvalidOperationException(
                    $"ZooKeeper on {ConnectString} exited with {process.ExitCode}:\n{RecentOutput}");
            string? answer = await FourLetterWordAsync("srvr", ct).ConfigureAwait(false);
            if (answer is not null && answer.Contains("Mode: ", StringComparison.Ordinal)) return;
            if (sw.Elapsed > timeout)
                throw new TimeoutException($"ZooKeeper on {ConnectString} not serving after {timeout}:\n{RecentOutput}");
            await Task.Delay(100, ct).ConfigureAwait(false);
        }
    }

    /// <summary>The 'srvr' mode line value ("standalone", "leader", "follower"), or null when not serving.</summary>
    public async Task<string?> ModeAsync(CancellationToken ct = default)
    {
        string? answer = await FourLetterWordAsync("srvr", ct).ConfigureAwait(false);
        if (answer is null) return null;
        foreach (var line in answer.Split('\n'))
            if (line.StartsWith("Mode: ", StringComparison.Ordinal)) return line[6..].Trim();
        return null;
    }

    /// <summary>Sends a four-letter command; null when the server does not answer.</summary>
    public async Task<string?> FourLetterWordAsync(string command, CancellationToken ct = default)
    {
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            cts.CancelAfter(TimeSpan.FromSeconds(2));
            using var client = new TcpClient(AddressFamily.InterNetwork);
            await client.ConnectAsync(IPAddress.Loopback, ClientPort, cts.Token).ConfigureAwait(false);
            var stream = client.GetStream();
            await stream.WriteAsync(Encoding.ASCII.GetBytes(command), cts.Token).ConfigureAwait(false);
            using var reader = new StreamReader(stream, Encoding.UTF8);
            return await reader.ReadToEndAsync(cts.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is SocketException or IOException or OperationCanceledException && !ct.IsCancellationRequested)
        {
            return null;
        }
    }

    public async ValueTask DisposeAsync()
    {
        await StopAsync().ConfigureAwait(false);
        try
        {
            Directory.Delete(_rootDir, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: the directory is under the temp folder.
        }
    }

    internal static string NewRootDir(string prefix)
    {
        string dir = Path.Combine(Path.GetTempPath(), "pulsarish-tests", $"{prefix}-{Guid.NewGuid():N}");
        Directory.CreateDirectory(dir);
        return dir;
    }

    /// <summary>A port free on 127.0.0.1 a moment ago (bound to 0 and released).</summary>
    internal static int FreeLoopbackPort()
    {
        using var listener = new TcpListener(IPAddress.Loopback, 0);
        listener.Start();
        int port = ((IPEndPoint)listener.LocalEndpoint).Port;
        listener.Stop();
        return port;
    }

    private void WriteConfig(string? quorum)
    {
        var cfg = new StringBuilder()
            .AppendLine($"tickTime={TickTimeMillis}")
            .AppendLine($"dataDir={DataDir}")
            .AppendLine($"clientPort={ClientPort}")
            .AppendLine("clientPortAddress=127.0.0.1")
            .AppendLine("admin.enableServer=false")
            .AppendLine($"minSessionTimeout={2 * TickTimeMillis}")
            .AppendLine("maxSessionTimeout=60000")
            .AppendLine("maxClientCnxns=0")
            .AppendLine("4lw.commands.whitelist=srvr,ruok,stat,cons")
            .AppendLine("autopurge.purgeInterval=0");
        if (quorum is not null)
        {
            cfg.AppendLine("initLimit=25").AppendLine("syncLimit=10").AppendLine("standaloneEnabled=false")
                .Append(quorum);
        }
        File.WriteAllText(_configPath, cfg.ToString());
    }

    private void Remember(string? line)
    {
        if (line is null) return;
        lock (_output)
        {
            _output.Enqueue(line);
            while (_output.Count > MaxOutputLines) _output.Dequeue();
        }
    }

    /// <summary>Last resort if a test host exits without tearing down: kill what we started, by PID.</summary>
    private static class KillOnExit
    {
        private static readonly List<Process> Started = [];

        static KillOnExit()
        {
            AppDomain.CurrentDomain.ProcessExit += (_, _) =>
            {
                lock (Started)
                {
                    foreach (var p in Started)
                    {
                        try
                        {
                            if (!p.HasExited) p.Kill(entireProcessTree: true);
                        }
                        catch (InvalidOperationException)
                        {
                            // Already exited or disposed.
                        }
                    }
                }
            };
        }

        public static void Register(Process p)
        {
            lock (Started)
            {
                Started.RemoveAll(static x =>
                {
                    try
                    {
                        return x.HasExited;
                    }
                    catch (InvalidOperationException)
                    {
                        return true;
                    }
                });
                Started.Add(p);
            }
        }
    }
}
