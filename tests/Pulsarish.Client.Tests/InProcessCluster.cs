using Microsoft.Extensions.Logging;
using Pulsarish.TestKit;

namespace Pulsarish.Client.Tests;

/// <summary>
/// A standalone-like cluster in the test process: embedded metadata store on a temp directory, 3 real bookies
/// (gRPC, real files and fsync) and a real broker on 127.0.0.1 with a free port — what <c>pulsarish standalone</c>
/// runs. Clients reach it only through the SDK over gRPC.
/// </summary>
public sealed class InProcessCluster : IAsyncDisposable
{
    private readonly TempDir _dir;

    private InProcessCluster(TempDir dir, StandaloneCluster cluster)
    {
        _dir = dir;
        Cluster = cluster;
    }

    public StandaloneCluster Cluster { get; }

    public string Address => Cluster.BrokerAddress;

    /// <summary>Starts the cluster; <paramref name="logSink"/> (if any) receives its logs too.</summary>
    public static async Task<InProcessCluster> StartAsync(ILoggerProvider? logSink = null,
        Action<StandaloneOptions>? configure = null)
    {
        var dir = new TempDir("client-tests");
        try
        {
            var options = new StandaloneOptions
            {
                DataDir = dir.Path,
                Port = 0,
                ConfigureLogging = logging =>
                {
                    logging.SetMinimumLevel(LogLevel.Warning)
                        .AddFilter("Microsoft", LogLevel.Error)
                        .AddFilter("Grpc", LogLevel.Error)
                        .AddSimpleConsole(c => c.SingleLine = true);
                    if (logSink is not null) logging.AddProvider(logSink);
                },
            };
            configure?.Invoke(options);
            var cluster = await StandaloneCluster.StartAsync(options);
            return new InProcessCluster(dir, cluster);
        }
        catch
        {
            dir.Dispose();
            throw;
        }
    }

    /// <summary>A client on this cluster with short timeouts and reconnect delays (tests).</summary>
    public PulsarishClient NewClient() => new(new PulsarishClientOptions
    {
        ServiceUrls = [Address],
        OperationTimeout = TimeSpan.FromSeconds(20),
        InitialReconnectDelay = TimeSpan.FromMilliseconds(50),
        MaxReconnectDelay = TimeSpan.FromSeconds(1),
    });

    public async ValueTask DisposeAsync()
    {
        await Cluster.DisposeAsync();
        _dir.Dispose();
    }
}
