using System.Diagnostics;
using Microsoft.Extensions.Logging;

namespace Pulsarish.Hosting.Supervisor;

/// <summary>
/// One supervised child: started with a stdin pipe it never writes (the child exits at its end of file, see
/// <see cref="SupervisedChildAgent"/>), stdout/stderr copied to a rotating log, heartbeats and resident memory
/// checked; a child that exits, stops beating or outgrows its memory bound is restarted after an exponential
/// back-off. Tracked by its <see cref="Process"/> handle only, which also reaps it (no zombies). Thread-safe.
/// </summary>
public sealed class SupervisedProcess : IDisposable
{
    private readonly ChildSpec _spec;
    private readonly SupervisorOptions _options;
    private readonly ILogger _logger;
    private readonly Action _onChange;
    private readonly RotatingLogFile _log;
    private readonly object _lock = new();
    private readonly TaskCompletionSource _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);
    private Process? _process;
    private long _lastHeartbeatTicks;
    private bool _beatSinceStart;
    private bool _readySinceStart;

    public SupervisedProcess(ChildSpec spec, SupervisorOptions options, string logDir, ILogger logger, Action onChange)
    {
        _spec = spec;
        _options = options;
        _logger = logger;
        _onChange = onChange;
        _log = new RotatingLogFile(System.IO.Path.Combine(logDir, spec.Name + ".log"), options.MaxLogBytes);
    }

    public ChildSpec Spec => _spec;

    public string LogFile => _log.Path;

    public ChildState State { get; private set; } = ChildState.Starting;

    /// <summary>Restarts after a crash, a missed heartbeat or the memory bound.</summary>
    public int Restarts { get; private set; }

    /// <summary>
    /// The running child said it serves: it printed its ready marker, or (without one) sent a heartbeat, or (for a
    /// child that sends neither) it was started.
    /// </summary>
    public bool IsReady
    {
        get
        {
            lock (_lock) return _process is not null && _readySinceStart;
        }
    }

    /// <summary>PID of the running child (for display and tests), or null.</summary>
    public int? Pid
    {
        get
        {
            lock (_lock) return _process is { HasExited: false } p ? p.Id : null;
        }
    }

    /// <summary>Completes when the child first printed its ready marker (or at once when it has none).</summary>
    public Task Ready => _ready.Task;

    /// <summary>Runs (and restarts) the child until <paramref name="stop"/>, then stops it gracefully.</summary>
    public async Task RunAsync(CancellationToken stop)
    {
        if (_spec.ReadyMarker is null) _ready.TrySetResult();
        var backoff = _options.InitialRestartBackoff;
        while (!stop.IsCancellationRequested)
        {
            Process process;
            try
            {
                process = Start();
            }
            catch (Exception e) when (e is System.ComponentModel.Win32Exception or IOException)
            {
                _logger.LogError(e, "Cannot start {Child}", _spec.Name);
                if (!await BackOffAsync(backoff, stop).ConfigureAwait(false)) break;
                backoff = Next(backoff);
                continue;
            }
            var startedAt = Stopwatch.StartNew();
            string reason = await MonitorAsync(process, stop).ConfigureAwait(false);
            if (stop.IsCancellationRequested)
            {
                await StopAsync(process).ConfigureAwait(false);
                break;
            }
            if (reason != "exited") KillTree(process);
            await WaitForExitAsync(process, _options.GracePeriod).ConfigureAwait(false);
            int? code = ExitCode(process);
            lock (_lock)
            {
                _process = null;
                process.Dispose();
            }
            if (startedAt.Elapsed >= _options.StableRunTime) backoff = _options.InitialRestartBackoff;
            _logger.LogWarning("{Child} {Reason} (exit code {ExitCode}); restarting in {Backoff}", _spec.Name, reason, code, backoff);
            _log.WriteLine($"--- supervisor: {reason}, exit code {code}; restart in {backoff}");
            Restarts++;
            if (!await BackOffAsync(backoff, stop).ConfigureAwait(false)) break;
            backoff = Next(backoff);
        }
        SetState(ChildState.Stopped);
    }

    public void Dispose() => _log.Dispose();

    private Process Start()
    {
        SetState(ChildState.Starting);
        var psi = new ProcessStartInfo(_spec.FileName)
        {
            UseShellExecute = false,
            RedirectStandardInput = true,
            RedirectStandardOutput = true,
            RedirectStandardError = true,
        };
        foreach (var arg in _spec.Arguments) psi.ArgumentList.Add(arg);
        psi.Environment[SupervisedChildAgent.EnvironmentVariable] = "1";
        psi.Environment["DOTNET_NOLOGO"] = "1";
        psi.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        var process = new Process { StartInfo = psi, EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => OnOutput(e.Data);
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is not null) _log.WriteLine(e.Data);
        };
        lock (_lock)
        {
            _lastHeartbeatTicks = Stopwatch.GetTimestamp();
            _beatSinceStart = false;
            _readySinceStart = _spec.ReadyMarker is null && !_spec.SendsHeartbeats;
            process.Start();
            _process = process;
        }
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        _log.WriteLine($"--- supervisor: started {_spec.Name} pid {process.Id}: {_spec.FileName} {string.Join(' ', _spec.Arguments)}");
        _logger.LogInformation("Started {Child} (pid {Pid}) on {Address}", _spec.Name, process.Id, _spec.Address);
        SetState(ChildState.Running);
        return process;
    }

    private void OnOutput(string? line)
    {
        if (line is null) return;
        if (line == SupervisedChildAgent.HeartbeatLine)
        {
            bool becameReady;
            lock (_lock)
            {
                _lastHeartbeatTicks = Stopwatch.GetTimestamp();
                _beatSinceStart = true;
                becameReady = _spec.ReadyMarker is null && !_readySinceStart;
                _readySinceStart |= becameReady;
            }
            if (becameReady) _onChange();
            return;
        }
        _log.WriteLine(line);
        if (_spec.ReadyMarker is not null && line.Contains(_spec.ReadyMarker, StringComparison.Ordinal))
        {
            lock (_lock) _readySinceStart = true;
            _ready.TrySetResult();
            _onChange();
        }
    }

    /// <summary>Waits until the child exits ("exited"), misses heartbeats, outgrows its memory bound, or stop is requested.</summary>
    private async Task<string> MonitorAsync(Process process, CancellationToken stop)
    {
        var exited = process.WaitForExitAsync(CancellationToken.None);
        while (true)
        {
            try
            {
                await exited.WaitAsync(_options.HealthCheckInterval, stop).ConfigureAwait(false);
                return "exited";
            }
            catch (TimeoutException)
            {
                // Time for a health check.
            }
            catch (OperationCanceledException)
            {
                return "stopping";
            }
            if (_spec.SendsHeartbeats)
            {
                TimeSpan silence;
                bool started;
                lock (_lock)
                {
                    silence = Stopwatch.GetElapsedTime(_lastHeartbeatTicks);
                    started = _beatSinceStart || _readySinceStart;
                }
                var limit = started ? _options.HeartbeatTimeout : _options.StartupTimeout;
                if (silence > limit) return $"sent no heartbeat for {silence.TotalSeconds:F1} s";
            }
            if (_options.MaxRssBytes is long maxRss && !process.HasExited)
            {
                long rss = ProcessTreeMemory.ResidentBytes(process.Id);
                if (rss > maxRss) return $"uses {rss / (1024 * 1024)} MiB resident, above {maxRss / (1024 * 1024)} MiB";
            }
        }
    }

    /// <summary>SIGTERM, then SIGKILL of the whole tree after the grace period.</summary>
    private async Task StopAsync(Process process)
    {
        SetState(ChildState.Stopping);
        try
        {
            PosixSignals.Terminate(process);
            if (!await WaitForExitAsync(process, _options.GracePeriod).ConfigureAwait(false))
            {
                _logger.LogWarning("{Child} did not stop within {Grace}: killing it", _spec.Name, _options.GracePeriod);
                KillTree(process);
                await WaitForExitAsync(process, _options.GracePeriod).ConfigureAwait(false);
            }
            _log.WriteLine($"--- supervisor: stopped {_spec.Name}, exit code {ExitCode(process)}");
        }
        finally
        {
            lock (_lock)
            {
                _process = null;
                process.Dispose();
            }
        }
    }

    private static void KillTree(Process process)
    {
        try
        {
            if (!process.HasExited) process.Kill(entireProcessTree: true);
        }
        catch (InvalidOperationException)
        {
            // Exited meanwhile.
        }
    }

    private static async Task<bool> WaitForExitAsync(Process process, TimeSpan timeout)
    {
        try
        {
            await process.WaitForExitAsync(CancellationToken.None).WaitAsync(timeout).ConfigureAwait(false);
            return true;
        }
        catch (TimeoutException)
        {
            return false;
        }
    }

    private static int? ExitCode(Process process)
    {
        try
        {
            return process.HasExited ? process.ExitCode : null;
        }
        catch (InvalidOperationException)
        {
            return null;
        }
    }

    private async Task<bool> BackOffAsync(TimeSpan delay, CancellationToken stop)
    {
        SetState(ChildState.BackingOff);
        try
        {
            await Task.Delay(delay, stop).ConfigureAwait(false);
            return true;
        }
        catch (OperationCanceledException)
        {
            return false;
        }
    }

    private TimeSpan Next(TimeSpan backoff) =>
        TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, _options.MaxRestartBackoff.Ticks));

    private void SetState(ChildState state)
    {
        State = state;
        _onChange();
    }
}
