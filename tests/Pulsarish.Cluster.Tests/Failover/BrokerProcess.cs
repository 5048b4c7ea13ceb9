using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Pulsarish.TestKit;

namespace Pulsarish.Cluster.Tests.Failover;

/// <summary>A <c>pulsarish broker</c> process outside the supervisor, killed by PID on dispose.</summary>
internal sealed class BrokerProcess : IAsyncDisposable
{
    private const int SigCont = 18;
    private const int SigStop = 19;
    private const int SigTerm = 15;
    private readonly Process _process;
    private readonly ConcurrentQueue<(long Ticks, string Line)> _lines = new();
    private readonly TaskCompletionSource<string> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private BrokerProcess(Process process) => _process = process;

    public string Address { get; private set; } = "";

    public int Pid => _process.Id;

    /// <summary>Freezes the process (SIGSTOP): it keeps its sockets but answers nothing, like a long GC pause.</summary>
    public void Freeze() => Signal(SigStop);

    /// <summary>Resumes a frozen process (SIGCONT).</summary>
    public void Resume() => Signal(SigCont);

    /// <summary>Asks the process to stop gracefully (SIGTERM), as <c>kill PID</c> does.</summary>
    public void Terminate() => Signal(SigTerm);

    /// <summary>Whether the process has exited.</summary>
    public bool HasExited => _process.HasExited;

    /// <summary>Waits (bounded) for the process to exit by itself; returns its exit code, or null on timeout.</summary>
    public async Task<int?> WaitForExitAsync(TimeSpan timeout)
    {
        try
        {
            await _process.WaitForExitAsync().WaitAsync(timeout);
            return _process.ExitCode;
        }
        catch (TimeoutException)
        {
            return null;
        }
    }

    /// <summary>Every line the process printed so far.</summary>
    public string Output => string.Join('\n', _lines.Select(l => l.Line));

    public static async Task<BrokerProcess> StartAsync(string brokerId, int zkPort, int sessionTimeoutMs = 3000)
    {
        using var probe = new System.Net.Sockets.TcpListener(System.Net.IPAddress.Loopback, 0);
        probe.Start();
        int port = ((System.Net.IPEndPoint)probe.LocalEndpoint).Port;
        probe.Stop();
        var process = new Process
        {
            StartInfo = PulsarishBinary.StartInfo([
                "broker", "--broker-id", brokerId, "--port", port.ToString(CultureInfo.InvariantCulture),
                "--metadata-url", $"zk:127.0.0.1:{zkPort}", "--metadata-session-timeout-ms", sessionTimeoutMs.ToString(CultureInfo.InvariantCulture),
            ]),
        };
        var broker = new BrokerProcess(process);
        process.OutputDataReceived += (_, e) => broker.OnLine(e.Data);
        process.ErrorDataReceived += (_, e) => broker.OnLine(e.Data);
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        TestContext.Progress.WriteLine($"broker {brokerId} pid {process.Id} on {port}");
        broker.Address = await broker._ready.Task.WaitAsync(TimeSpan.FromSeconds(60));
        return broker;
    }

    /// <summary>When (on <paramref name="clock"/>) a line containing <paramref name="text"/> arrived, or null.</summary>
    public long? LineSeenAtMs(string text, Stopwatch clock)
    {
        long startTicks = Stopwatch.GetTimestamp() - clock.Elapsed.Ticks * Stopwatch.Frequency / TimeSpan.TicksPerSecond;
        foreach (var (ticks, line) in _lines)
            if (line.Contains(text, StringComparison.Ordinal))
                return (ticks - startTicks) * 1000 / Stopwatch.Frequency;
        return null;
    }

    public async ValueTask DisposeAsync()
    {
        if (!_process.HasExited) _process.Kill(entireProcessTree: true);
        await _process.WaitForExitAsync().WaitAsync(TimeSpan.FromSeconds(30));
        _process.Dispose();
    }

    private void Signal(int signal)
    {
        Assert.That(_process.HasExited, Is.False, "the broker process is alive");
        Assert.That(Kill(_process.Id, signal), Is.EqualTo(0), $"kill({_process.Id}, {signal})");
    }

    [System.Runtime.InteropServices.DllImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static extern int Kill(int pid, int signal);

    private void OnLine(string? line)
    {
        if (line is null) return;
        _lines.Enqueue((Stopwatch.GetTimestamp(), line));
        const string ready = "broker ready ";
        if (line.StartsWith(ready, StringComparison.Ordinal)) _ready.TrySetResult(line[ready.Length..].Trim());
    }
}
