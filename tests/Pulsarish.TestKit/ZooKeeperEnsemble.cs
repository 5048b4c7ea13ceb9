using System.Text;

namespace Pulsarish.TestKit;

/// <summary>
/// A quorum of real ZooKeeper servers on 127.0.0.1 (client, quorum and election ports all free ports), each a
/// child process with its own data directory, killed by PID on dispose.
/// </summary>
public sealed class ZooKeeperEnsemble : IAsyncDisposable
{
    private static readonly TimeSpan StartTimeout = TimeSpan.FromSeconds(90);
    private readonly string _rootDir;

    private ZooKeeperEnsemble(string rootDir, IReadOnlyList<ZooKeeperServer> servers)
    {
        _rootDir = rootDir;
        Servers = servers;
    }

    public IReadOnlyList<ZooKeeperServer> Servers { get; }

    /// <summary>All client endpoints, comma-separated.</summary>
    public string ConnectString => string.Join(',', Servers.Select(s => s.ConnectString));

    /// <summary>Starts <paramref name="size"/> servers and waits until every one serves clients.</summary>
    public static async Task<ZooKeeperEnsemble> StartAsync(int size = 3, CancellationToken ct = default)
    {
        string root = ZooKeeperServer.NewRootDir("zk-ensemble");
        var clientPorts = new int[size];
        var quorum = new StringBuilder();
        for (int i = 0; i < size; i++)
        {
            clientPorts[i] = ZooKeeperServer.FreeLoopbackPort();
            quorum.AppendLine(
                $"server.{i + 1}=127.0.0.1:{ZooKeeperServer.FreeLoopbackPort()}:{ZooKeeperServer.FreeLoopbackPort()}");
        }
        var servers = new List<ZooKeeperServer>(size);
        for (int i = 0; i < size; i++)
        {
            string dir = Path.Combine(root, $"server{i + 1}");
            Directory.CreateDirectory(dir);
            servers.Add(ZooKeeperServer.CreateMember(dir, clientPorts[i], i + 1, quorum.ToString()));
        }
        var ensemble = new ZooKeeperEnsemble(root, servers);
        try
        {
            foreach (var s in servers) await s.StartProcessAsync(ct).ConfigureAwait(false);
            await ensemble.WaitUntilServingAsync(ct).ConfigureAwait(false);
        }
        catch
        {
            await ensemble.DisposeAsync().ConfigureAwait(false);
            throw;
        }
        return ensemble;
    }

    /// <summary>Waits until every running member serves clients.</summary>
    public async Task WaitUntilServingAsync(CancellationToken ct = default)
    {
        foreach (var s in Servers)
            if (s.IsRunning) await s.WaitUntilServingAsync(StartTimeout, ct).ConfigureAwait(false);
    }

    /// <summary>The member whose client port is <paramref name="endpoint"/> ("127.0.0.1:port").</summary>
    public ZooKeeperServer ServerAt(string endpoint) =>
        Servers.First(s => s.ConnectString == endpoint || endpoint.EndsWith(":" + s.ClientPort, StringComparison.Ordinal));

    public async ValueTask DisposeAsync()
    {
        foreach (var s in Servers) await s.DisposeAsync().ConfigureAwait(false);
        try
        {
            Directory.Delete(_rootDir, recursive: true);
        }
        catch (IOException)
        {
            // Best effort: the directory is under the temp folder.
        }
    }
}
