using System.Net;
using System.Net.Sockets;

namespace Pulsarish.Metadata.Tests.ZooKeeper;

/// <summary>
/// A scripted TCP server on 127.0.0.1 that speaks just enough of the ZooKeeper framing to drive the client into
/// malformed, oversize or expired replies. Each accepted connection is handed to the script with its index.
/// </summary>
internal sealed class FakeZooKeeperServer : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly CancellationTokenSource _stop = new();
    private readonly Task _acceptLoop;
    private readonly List<TcpClient> _clients = [];

    public FakeZooKeeperServer(Func<FakeConnection, int, CancellationToken, Task> script)
    {
        _listener.Start();
        _acceptLoop = AcceptLoopAsync(script);
    }

    public string ConnectString => $"127.0.0.1:{((IPEndPoint)_listener.LocalEndpoint).Port}";

    public int Connections { get; private set; }

    private async Task AcceptLoopAsync(Func<FakeConnection, int, CancellationToken, Task> script)
    {
        try
        {
            while (true)
            {
                var client = await _listener.AcceptTcpClientAsync(_stop.Token);
                lock (_clients) _clients.Add(client);
                int index = Connections++;
                _ = Task.Run(async () =>
                {
                    try
                    {
                        await script(new FakeConnection(client.GetStream()), index, _stop.Token);
                    }
                    catch (Exception e) when (e is IOException or OperationCanceledException or ObjectDisposedException)
                    {
                        // The client went away or the test ended.
                    }
                });
            }
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException or SocketException)
        {
            // Stopped.
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        await _acceptLoop;
        lock (_clients)
            foreach (var c in _clients) c.Dispose();
        _stop.Dispose();
    }
}
