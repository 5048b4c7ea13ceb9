using System.Diagnostics;
using System.Net;
using System.Net.Sockets;
using System.Text;

namespace Pulsarish.Hosting.Supervisor;

/// <summary>
/// Starts a real ZooKeeper server (the Debian package's jars, <c>ZooKeeperServerMain</c>) bound to 127.0.0.1 with a
/// generated configuration. Java cannot watch the supervisor's pipe, so it runs under a small bash guard that does:
/// the guard forwards SIGTERM to java, stops java when its stdin (the supervisor's pipe) reaches end of file, exits
/// with java's exit code, and starts java with a parent-death signal (<c>setpriv --pdeathsig</c>, when present) so a
/// killed guard takes java with it.
/// </summary>
internal static class ZooKeeperLauncher
{
    /// <summary>Where the Debian package puts the server; its manifest Class-Path names every dependency.</summary>
    public const string DefaultClassPath = "/usr/share/java/zookeeper.jar";

    /// <summary>Overrides <see cref="DefaultClassPath"/> (another installation of ZooKeeper).</summary>
    public const string ClassPathVariable = "PULSARISH_ZOOKEEPER_CLASSPATH";

    public const string MainClass = "org.apache.zookeeper.server.ZooKeeperServerMain";

    private const string SetPriv = "/usr/bin/setpriv";

    private const string GuardScript =
        "\"$@\" </dev/null & java_pid=$!\n" +
        "trap 'kill -TERM $java_pid 2>/dev/null' TERM INT\n" +
        "( while read -r _; do :; done; kill -TERM $java_pid 2>/dev/null ) <&0 & reader=$!\n" +
        "wait $java_pid; code=$?\n" +
        "while kill -0 $java_pid 2>/dev/null; do wait $java_pid; code=$?; done\n" +
        "kill $reader 2>/dev/null\n" +
        "exit $code\n";

    /// <summary>Writes zoo.cfg under <paramref name="dir"/> and returns the child to supervise.</summary>
    public static ChildSpec Prepare(string dir, string logDir, int clientPort, int tickMillis)
    {
        string dataDir = Path.Combine(dir, "data");
        Directory.CreateDirectory(dataDir);
        string configPath = Path.Combine(dir, "zoo.cfg");
        var cfg = new StringBuilder()
            .AppendLine($"tickTime={tickMillis}")
            .AppendLine($"dataDir={dataDir}")
            .AppendLine($"clientPort={clientPort}")
            .AppendLine("clientPortAddress=127.0.0.1")
            .AppendLine("admin.enableServer=false")
            .AppendLine("maxClientCnxns=0")
            .AppendLine("4lw.commands.whitelist=srvr,ruok,stat,cons")
            .AppendLine("autopurge.snapRetainCount=3")
            .AppendLine("autopurge.purgeInterval=1");
        File.WriteAllText(configPath, cfg.ToString());

        string classPath = Environment.GetEnvironmentVariable(ClassPathVariable) is { Length: > 0 } custom ? custom : DefaultClassPath;
        var args = new List<string> { "-c", GuardScript, "zookeeper-guard" };
        if (File.Exists(SetPriv)) args.AddRange([SetPriv, "--pdeathsig", "TERM"]);
        args.AddRange([
            "java", "-Xmx256m", "-XX:+UseSerialGC", "-Djava.net.preferIPv4Stack=true",
            "-Dzookeeper.jmx.log4j.disable=true", "-Dzookeeper.log.dir=" + logDir,
            "-cp", classPath, MainClass, configPath,
        ]);
        return new ChildSpec("zookeeper", "zookeeper", $"127.0.0.1:{clientPort}", "bash", args, SendsHeartbeats: false, ReadyMarker: null);
    }

    /// <summary>Polls the <c>srvr</c> four-letter command until the server reports a mode.</summary>
    public static async Task WaitUntilServingAsync(int port, TimeSpan timeout, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            string? answer = await FourLetterWordAsync(port, "srvr", ct).ConfigureAwait(false);
            if (answer is not null && answer.Contains("Mode: ", StringComparison.Ordinal)) return;
            if (sw.Elapsed > timeout) throw new TimeoutException($"ZooKeeper on 127.0.0.1:{port} not serving after {timeout}");
            await Task.Delay(200, ct).ConfigureAwait(false);
        }
    }

    private static async Task<string?> FourLetterWordAsync(int port, string command, CancellationToken ct)
    {
        try
        {
            using var cts = CancellationTokenSource.CreateLinkedTokenSource(ct);
            cts.CancelAfter(TimeSpan.FromSeconds(2));
            using var client = new TcpClient(AddressFamily.InterNetwork);
            await client.ConnectAsync(IPAddress.Loopback, port, cts.Token).ConfigureAwait(false);
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
}
