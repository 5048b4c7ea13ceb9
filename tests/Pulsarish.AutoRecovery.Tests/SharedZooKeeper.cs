using Pulsarish.TestKit;

namespace Pulsarish.AutoRecovery.Tests;

/// <summary>One real ZooKeeper server for the whole assembly; each test works under its own chroot.</summary>
[SetUpFixture]
public sealed class SharedZooKeeper
{
    private static ZooKeeperServer? _server;

    public static ZooKeeperServer Server => _server ?? throw new InvalidOperationException("ZooKeeper not started");

    [OneTimeSetUp]
    public async Task StartAsync() => _server = await ZooKeeperServer.StartAsync();

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        if (_server is not null)
        {
            await _server.DisposeAsync();
        }
    }
}
