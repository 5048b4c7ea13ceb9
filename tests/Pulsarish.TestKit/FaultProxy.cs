using System.Net;
using System.Net.Sockets;

namespace Pulsarish.TestKit;

/// <summary>
/// A TCP forwarder on 127.0.0.1 in front of one server, with network faults a test switches on and off:
/// <list type="bullet">
/// <item><see cref="Partition"/>: open links are closed and new connections dropped at once (a partition; a
/// ZooKeeper session behind it expires, a bookie behind it is unreachable).</item>
/// <item><see cref="Freeze"/>: bytes stop moving in both directions, nothing is closed (a hung server or a silent
/// network); held bytes move again on <see cref="Heal"/>.</item>
/// <item><see cref="Sever"/>: the links made so far are closed, new ones are accepted (a reset network).</item>
/// <item><see cref="Delay"/>: each forwarded chunk waits this long first (a slow link).</item>
/// <item><see cref="Heal"/>: every fault off.</item>
/// </list>
/// Thread-safe. Dispose to close the listener and every link.
/// </summary>
public sealed class FaultProxy : IAsyncDisposable
{
    private readonly TcpListener _listener = new(IPAddress.Loopback, 0);
    private readonly IPEndPoint _target;
    private readonly CancellationTokenSource _stop = new();
    private readonly List<Socket> _sockets = new();
    private readonly Task _accepting;
    private volatile bool _partitioned;
    private volatile TaskCompletionSource _thawed = OpenGate();
    private long _delayTicks;

    /// <summary>Forwards to <paramref name="target"/>.</summary>
    public FaultProxy(IPEndPoint target)
    {
        ArgumentNullException.ThrowIfNull(target);
        _target = target;
        _listener.Start();
        Port = ((IPEndPoint)_listener.LocalEndpoint).Port;
        _accepting = Task.Run(AcceptAsync);
    }

    /// <summary>Forwards to 127.0.0.1:<paramref name="targetPort"/>.</summary>
    public FaultProxy(int targetPort) : this(new IPEndPoint(IPAddress.Loopback, targetPort))
    {
    }

    /// <summary>The proxy's own port on 127.0.0.1.</summary>
    public int Port { get; }

    /// <summary>"127.0.0.1:port" of the proxy.</summary>
    public string Address => $"127.0.0.1:{Port}";

    /// <summary>Added before each forwarded chunk; zero (the default) forwards at once.</summary>
    public TimeSpan Delay
    {
        get => TimeSpan.FromTicks(Interlocked.Read(ref _delayTicks));
        set => Interlocked.Exchange(ref _delayTicks, Math.Max(0, value.Ticks));
    }

    /// <summary>True while partitioned.</summary>
    public bool IsPartitioned => _partitioned;

    /// <summary>Closes every open link and drops new connections until <see cref="Heal"/>.</summary>
    public void Partition()
    {
        _partitioned = true;
        Sever();
    }

    /// <summary>Stops moving bytes in both directions without closing anything, until <see cref="Heal"/>.</summary>
    public void Freeze()
    {
        if (_thawed.Task.IsCompleted)
        {
            _thawed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        }
    }

    /// <summary>Ends every fault: accepts connections again, releases frozen bytes, no delay.</summary>
    public void Heal()
    {
        _partitioned = false;
        Delay = TimeSpan.Zero;
        _thawed.TrySetResult();
    }

    /// <summary>Closes every link made so far (both sides); new connections are still accepted unless partitioned.</summary>
    public void Sever()
    {
        lock (_sockets)
        {
            foreach (var socket in _sockets)
            {
                socket.Dispose();
            }
            _sockets.Clear();
        }
    }

    private static TaskCompletionSource OpenGate()
    {
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        gate.SetResult();
        return gate;
    }

    private async Task AcceptAsync()
    {
        while (!_stop.IsCancellationRequested)
        {
            Socket inbound;
            try
            {
                inbound = await _listener.AcceptSocketAsync(_stop.Token).ConfigureAwait(false);
            }
            catch (Exception) when (_stop.IsCancellationRequested)
            {
                return;
            }
            catch (SocketException)
            {
                continue;
            }
            if (_partitioned)
            {
                inbound.Dispose();
                continue;
            }
            var outbound = new Socket(AddressFamily.InterNetwork, SocketType.Stream, ProtocolType.Tcp) { NoDelay = true };
            inbound.NoDelay = true;
            try
            {
                await outbound.ConnectAsync(_target, _stop.Token).ConfigureAwait(false);
            }
            catch (Exception)
            {
                inbound.Dispose();
                outbound.Dispose();
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
        var buffer = new byte[64 * 1024];
        try
        {
            while (true)
            {
                int read = await from.ReceiveAsync(buffer, SocketFlags.None, _stop.Token).ConfigureAwait(false);
                if (read == 0)
                {
                    // The peer finished sending: pass the half-close on.
                    to.Shutdown(SocketShutdown.Send);
                    return;
                }
                var delay = Delay;
                if (delay > TimeSpan.Zero)
                {
                    await Task.Delay(delay, _stop.Token).ConfigureAwait(false);
                }
                await _thawed.Task.WaitAsync(_stop.Token).ConfigureAwait(false);
                int sent = 0;
                while (sent < read)
                {
                    sent += await to.SendAsync(buffer.AsMemory(sent, read - sent), SocketFlags.None, _stop.Token).ConfigureAwait(false);
                }
            }
        }
        catch (Exception ex) when (ex is SocketException or OperationCanceledException or ObjectDisposedException or IOException)
        {
            // Severed, partitioned, reset by a peer or stopping: both directions of the link end.
            from.Dispose();
            to.Dispose();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Stop();
        Sever();
        await _accepting.ConfigureAwait(false);
        _stop.Dispose();
    }
}
