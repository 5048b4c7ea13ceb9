using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using Pulsarish.TestKit;

namespace Pulsarish.Cluster.Tests.Failover;

/// <summary>A <c>pulsarish broker</c> process outside the supervisor, killed by PID on dispose.</summary>
internal sealed class BrokerProcess : PulsarishProcess
{
    private const int SigCont = 18;
    private const int SigStop = 19;
    private readonly string _brokerId;
    private readonly int _zkPort;
    private readonly int _sessionTimeoutMs;
    private readonly ConcurrentQueue<(long Ticks, string Line)> _lines = new();

    private BrokerProcess(string brokerId, int zkPort, int sessionTimeoutMs)
        : base("broker", ownedDir: null, readyTimeout: TimeSpan.FromSeconds(60))
    {
        _brokerId = brokerId;
        _zkPort = zkPort;
        _sessionTimeoutMs = sessionTimeoutMs;
    }

    /// <summary>Freezes the process (SIGSTOP): it keeps its sockets but answers nothing, like a long GC pause.</summary>
    public void Freeze() => Signal(SigStop);

    /// <summary>Resumes a frozen process (SIGCONT).</summary>
    public void Resume() => Signal(SigCont);

    /// <summary>Asks the process to stop gracefully (SIGTERM), as <c>kill PID</c> does.</summary>
    public void Terminate() => Signal(Sigterm);

    /// <summary>Whether the process has exited.</summary>
    public bool HasExited => !IsRunning;

    /// <summary>Waits (bounded) for the process to exit by itself; returns its exit code, or null on timeout.</summary>
    public async Task<int?> WaitForExitAsync(TimeSpan timeout)
    {
        var process = CurrentProcess ?? throw new InvalidOperationException("not started");
        try
        {
            await process.WaitForExitAsync().WaitAsync(timeout);
            return process.ExitCode;
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
        int port = FreePort.Next();
        var broker = await StartAsync(new BrokerProcess(brokerId, zkPort, sessionTimeoutMs), port);
        TestContext.Progress.WriteLine($"broker {brokerId} pid {broker.Pid} on {port}");
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

    /// <inheritdoc />
    protected override IReadOnlyList<string> Arguments(int port) =>
    [
        "broker", "--broker-id", _brokerId, "--port", port.ToString(CultureInfo.InvariantCulture), "--http-port", "0",
        "--metadata-url", $"zk:127.0.0.1:{_zkPort}",
        "--metadata-session-timeout-ms", _sessionTimeoutMs.ToString(CultureInfo.InvariantCulture),
    ];

    /// <inheritdoc />
    protected override void OnOutputLine(string line) => _lines.Enqueue((Stopwatch.GetTimestamp(), line));

    private void Signal(int signal)
    {
        Assert.That(HasExited, Is.False, "the broker process is alive");
        Assert.That(SendSignal(Pid, signal), Is.EqualTo(0), $"kill({Pid}, {signal})");
    }
}
