using System.Diagnostics;

namespace Pulsarish.Hosting.Supervisor;

/// <summary>
/// The child side of supervision, active when <see cref="EnvironmentVariable"/> is <c>1</c>: a dedicated thread
/// writes a <see cref="HeartbeatLine"/> to stdout every <see cref="HeartbeatInterval"/> (a hung process stops
/// beating), and another reads stdin, the supervisor's pipe: at end of file the supervisor is gone, so the process
/// stops itself gracefully (SIGTERM to itself, the same path as <c>kill</c>), and exits hard if that takes longer
/// than <see cref="SelfStopTimeout"/>. No orphans survive their supervisor.
/// </summary>
public sealed class SupervisedChildAgent : IDisposable
{
    public const string EnvironmentVariable = "PULSARISH_SUPERVISED";

    /// <summary>The line a supervised child prints on stdout to say it is alive.</summary>
    public const string HeartbeatLine = "@pulsarish-heartbeat";

    public static readonly TimeSpan HeartbeatInterval = TimeSpan.FromSeconds(2);

    /// <summary>How long a graceful self-stop may take after the supervisor vanished before the process exits hard.</summary>
    public static readonly TimeSpan SelfStopTimeout = TimeSpan.FromSeconds(30);

    /// <summary>Exit code of a hard exit after the supervisor vanished.</summary>
    public const int OrphanExitCode = 71;

    private readonly CancellationTokenSource _stop = new();

    private SupervisedChildAgent()
    {
        new Thread(HeartbeatLoop) { IsBackground = true, Name = "supervisor-heartbeat" }.Start();
        new Thread(WatchSupervisorPipe) { IsBackground = true, Name = "supervisor-pipe" }.Start();
    }

    /// <summary>True when this process was started by <c>pulsarish cluster</c>.</summary>
    public static bool IsSupervised => Environment.GetEnvironmentVariable(EnvironmentVariable) == "1";

    /// <summary>Starts the agent when supervised; otherwise returns a no-op. Dispose on the way out.</summary>
    public static IDisposable Start() => IsSupervised ? new SupervisedChildAgent() : NoOp.Instance;

    public void Dispose() => _stop.Cancel();

    private void HeartbeatLoop()
    {
        // The first beat at once, so that the supervisor holds this child to the heartbeat timeout from the start.
        var wait = TimeSpan.Zero;
        while (!_stop.Token.WaitHandle.WaitOne(wait))
        {
            wait = HeartbeatInterval;
            try
            {
                Console.Out.WriteLine(HeartbeatLine);
                Console.Out.Flush();
            }
            catch (IOException)
            {
                return; // stdout gone with the supervisor; the pipe watcher stops us
            }
        }
    }

    private void WatchSupervisorPipe()
    {
        var buffer = new byte[256];
        try
        {
            using var stdin = Console.OpenStandardInput();
            while (stdin.Read(buffer, 0, buffer.Length) > 0)
            {
                // The supervisor never writes; anything read is ignored.
            }
        }
        catch (IOException)
        {
            // A broken pipe is the same news as end of file.
        }
        if (_stop.IsCancellationRequested) return;
        Console.Error.WriteLine("supervisor gone (stdin closed): stopping");
        PosixSignals.TerminateSelf();
        if (!_stop.Token.WaitHandle.WaitOne(SelfStopTimeout))
        {
            Console.Error.WriteLine($"graceful stop took longer than {SelfStopTimeout}: exiting");
            Environment.Exit(OrphanExitCode);
        }
    }

    private sealed class NoOp : IDisposable
    {
        public static readonly NoOp Instance = new();

        public void Dispose()
        {
        }
    }
}
