using System.Net;
using System.Net.Sockets;
using Microsoft.Extensions.Logging;

namespace Pulsarish.Hosting.Supervisor;

/// <summary>
/// <c>cluster up --fault-proxies</c>: a TCP forwarder on 127.0.0.1 between one member and ZooKeeper, so that a fault
/// injector (<c>pulsarish verify run</c>, another process) can cut that member alone off ZooKeeper. While the file
/// <see cref="FlagPath"/> exists the member is isolated: its links are closed and new connections are dropped (its
/// session expires, as behind a network partition); when the file is removed, connections are accepted again.
/// The proxy listens on a fixed port, so a restarted member reaches ZooKeeper through it as before.
/// </summary>
public sealed class MemberFaultProxy : IAsyncDisposable
{
    /// <summary>How often the flag file is looked at.</summary>
    public static readonly TimeSpan PollInterval = TimeSpan.FromMilliseconds(100);

    private readonly TcpListener _listener;
    private readonly IPEndPoint _target;
    private readonly string _flag;
    private readonly ILogger _logger;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Socket> _sockets = [];
    private readonly Task _accepting;
    private readonly Task _watching;
    private volatile bool _isolated;

    public MemberFaultProxy(string dataDir, string member, int port, int targetPort, ILogger logger)
    {
        _flag = FlagPath(dataDir, member);
        Directory.CreateDirectory(Path.GetDirectoryName(_flag)!);
        File.Delete(_flag);
        _logger = logger;
        _target = new IPEndPoint(IPAddress.Loopback, targetPort);
        _listener = new TcpListener(IPAddress.Loopback, port);
        _listener.Start();
        Address = $"127.0.0.1:{port}";
        _accepting = Task.Run(AcceptAsync);
        _watching = Task.Run(WatchAsync);
    }

    /// <summary>host:port the member uses as its ZooKeeper.</summary>
    public string Address { get; }

    /// <summary>The file whose existence isolates <paramref name="member"/> from ZooKeeper.</summary>
    public static string FlagPath(string dataDir, string member) => Path.Combine(dataDir, "faults", member + ".isolate-from-zookeeper");

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        CloseAll();
        await Task.WhenAll(_accepting, _watching).ConfigureAwait(false);
        _stop.Dispose();
    }

    private async Task WatchAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            bool isolated = File.Exists(_flag);
            if (isolated != _isolated)
            {
                _isolated = isolated;
                _logger.LogWarning(isolated ? "Fault injected: {Flag} exists, isolating from ZooKeeper" : "Fault healed: {Flag} removed", _flag);
                if (isolated) CloseAll();
            }
            try
            {
                await Task.Delay(PollInterval, _stop.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
        }
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket client;
            try
            {
                client = await _listener.AcceptSocketAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
            {
                return;
            }
            if (_isolated)
            {
                client.Dispose();
                continue;
            }
            _ = LinkAsync(client);
        }
    }

    private async Task LinkAsync(Socket client)
    {
        var server = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp);
        try
        {
            await server.ConnectAsync(_target, _stop.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            client.Dispose();
            server.Dispose();
            return;
        }
        lock (_sockets)
        {
            _sockets.Add(client);
            _sockets.Add(server);
        }
        await Task.WhenAny(PumpAsync(client, server), PumpAsync(server, client)).ConfigureAwait(false);
        lock (_sockets)
        {
            _sockets.Remove(client);
            _sockets.Remove(server);
        }
        client.Dispose();
        server.Dispose();
    }

    private async Task PumpAsync(Socket from, Socket to)
    {
        var buffer = new byte[16 * 1024];
        try
        {
            while (true)
            {
                int n = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token).ConfigureAwait(false);
                if (n == 0 || _isolated) return;
                await to.SendAsync(buffer.AsMemory(0, n), SocketFlags.None, _stop.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is OperationCanceledException or SocketException or ObjectDisposedException)
        {
            // Link closed.
        }
    }

    private void CloseAll()
    {
        lock (_sockets)
        {
            foreach (var socket in _sockets)
            {
                try
                {
                    socket.Shutdown(SocketShutdown.Both);
                }
                catch (Exception e) when (e is SocketException or ObjectDisposedException)
                {
                    // Already closed.
                }
                socket.Dispose();
            }
            _sockets.Clear();
        }
    }
}
