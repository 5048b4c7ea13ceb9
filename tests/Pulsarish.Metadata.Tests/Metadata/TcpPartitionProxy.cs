using System.Net;
using System.Net.Sockets;

namespace Pulsarish.Metadata.Tests.Metadata;

/// <summary>
/// A loopback TCP forwarder that can cut a client off its server (a network partition): while partitioned, open
/// links are closed and new connections are dropped at once. Used to make a ZooKeeper session expire on the real
/// server without touching the client.
/// </summary>
internal sealed class TcpPartitionProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly int _targetPort;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Socket> _sockets = new();
    private readonly Task _acceptLoop;
    private volatile bool _partitioned;

    public TcpPartitionProxy(int targetPort)
    {
        _targetPort = targetPort;
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _acceptLoop = Task.Run(AcceptLoopAsync);
    }

    public int Port { get; }

    public void Partition()
    {
        _partitioned = true;
        CloseAll();
    }

    public void Heal() => _partitioned = false;

    private async Task AcceptLoopAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket inbound;
            try
            {
                inbound = await _listener.AcceptSocketAsync(_stop.Token);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            if (_partitioned)
            {
                inbound.Close();
                continue;
            }
            var outbound = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
            try
            {
                await outbound.ConnectAsync(IPAddress.Loopback, _targetPort, _stop.Token);
            }
            catch (Exception)
            {
                inbound.Close();
                outbound.Close();
                continue;
            }
            lock (_sockets)
            {
                _sockets.Add(inbound);
                _sockets.Add(outbound);
            }
            _ = PumpAsync(inbound, outbound);
            _ = PumpAsync(outbound, inbound);
        }
    }

    private async Task PumpAsync(Socket from, Socket to)
    {
        byte[] buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                int n = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token);
                if (n == 0) break;
                await to.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, _stop.Token);
            }
        }
        catch (Exception)
        {
            // Closed by a partition or by the peer.
        }
        from.Close();
        to.Close();
    }

    private void CloseAll()
    {
        lock (_sockets)
        {
            foreach (var s in _sockets) s.Close();
            _sockets.Clear();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        CloseAll();
        try
        {
            await _acceptLoop;
        }
        catch (Exception)
        {
            // Stopping.
        }
    }
}
