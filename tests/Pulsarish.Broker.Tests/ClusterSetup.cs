namespace Pulsarish.Broker.Tests;

/// <summary>Starts the shared <see cref="BookieCluster"/> once for the assembly and stops it at the end.</summary>
[SetUpFixture]
public sealed class ClusterSetup
{
    private static BookieCluster? s_cluster;

    public static BookieCluster Cluster => s_cluster ?? throw new InvalidOperationException("cluster not started");

    [OneTimeSetUp]
    public async Task StartAsync() => s_cluster = await BookieCluster.StartAsync(3);

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        if (s_cluster is not null)
        {
            await s_cluster.DisposeAsync();
        }
    }
}
