using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Pulsarish.TestKit;

/// <summary>
/// Base of the test harnesses that run one real <c>dotnet pulsarish.dll &lt;role&gt; ...</c> child process on
/// 127.0.0.1. Launches it through <see cref="PulsarishBinary"/>, captures stdout and stderr into a bounded
/// <see cref="Log"/> prefixed by PID, and waits (bounded) for the "&lt;role&gt; ready HOST:PORT" line.
/// <see cref="Kill9"/> is SIGKILL, <see cref="StopAsync"/> SIGTERM, <see cref="RestartAsync"/> starts a new process
/// on the same directories and port. Always disposed by PID (the whole tree), deleting the temp dir it owns.
/// </summary>
public abstract partial class PulsarishProcess : IAsyncDisposable
{
    /// <summary>SIGTERM on Linux.</summary>
    protected const int Sigterm = 15;

    private const int MaxLogChars = 1_000_000;

    private readonly string _role;
    private readonly string _readyPrefix;
    private readonly TempDir? _ownedDir;
    private readonly TimeSpan _readyTimeout;
    private readonly StringBuilder _log = new();
    private Process? _process;

    /// <param name="role">The CLI command and ready-line prefix, e.g. "bookie" for "bookie ready HOST:PORT".</param>
    /// <param name="ownedDir">A temp dir deleted on dispose, or null.</param>
    /// <param name="readyTimeout">How long to wait for the ready line on each launch.</param>
    protected PulsarishProcess(string role, TempDir? ownedDir, TimeSpan readyTimeout)
    {
        _role = role;
        _readyPrefix = role + " ready ";
        _ownedDir = ownedDir;
        _readyTimeout = readyTimeout;
    }

    /// <summary>"127.0.0.1:port" once ready.</summary>
    public string Address { get; private set; } = "";

    /// <summary>The bound port (kept across restarts).</summary>
    public int Port { get; private set; }

    /// <summary>PID of the current child process.</summary>
    public int Pid => _process?.Id ?? -1;

    /// <summary>True while the current child process runs.</summary>
    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Everything the process(es) printed, stdout and stderr interleaved, prefixed by PID.</summary>
    public string Log
    {
        get
        {
            lock (_log)
            {
                return _log.ToString();
            }
        }
    }

    /// <summary>The current child process, or null before the first launch.</summary>
    protected Process? CurrentProcess => _process;

    /// <summary>SIGKILL: no flush, no shutdown hooks. Returns once the process is gone.</summary>
    public void Kill9()
    {
        var process = _process ?? throw new InvalidOperationException("not started");
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: false);
        }

        if (!process.WaitForExit(TimeSpan.FromSeconds(30)))
        {
            throw new TimeoutException($"{_role} {process.Id} did not die after SIGKILL");
        }

        Append($"[harness] pid {process.Id} killed with SIGKILL");
    }

    /// <summary>SIGTERM (graceful stop, flush) and wait for the exit code.</summary>
    public async Task<int> StopAsync(TimeSpan? timeout = null)
    {
        var process = _process ?? throw new InvalidOperationException("not started");
        if (!process.HasExited)
        {
            _ = SendSignal(process.Id, Sigterm);
        }

        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(40));
        await process.WaitForExitAsync(cts.Token);
        return process.ExitCode;
    }

    /// <summary>Starts a new process on the same directories and port (after <see cref="Kill9"/> or a stop).</summary>
    public async Task RestartAsync()
    {
        if (IsRunning)
        {
            throw new InvalidOperationException($"{_role} {Pid} still running");
        }

        _process?.Dispose();
        _process = null;
        await LaunchAsync(Port);
    }

    /// <summary>Kills the process tree by PID (bounded wait) and deletes the owned temp dir.</summary>
    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            try
            {
                if (!_process.HasExited)
                {
                    _process.Kill(entireProcessTree: true);
                    using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
                    await _process.WaitForExitAsync(timeout.Token);
                }
            }
            catch (InvalidOperationException)
            {
                // Already gone.
            }

            _process.Dispose();
            _process = null;
        }

        _ownedDir?.Dispose();
    }

    /// <summary>Launches <paramref name="harness"/> on <paramref name="port"/>; disposes it if that fails.</summary>
    protected static async Task<T> StartAsync<T>(T harness, int port)
        where T : PulsarishProcess
    {
        try
        {
            await harness.LaunchAsync(port);
            return harness;
        }
        catch
        {
            await harness.DisposeAsync();
            throw;
        }
    }

    /// <summary>The full command line (role first) for a launch on <paramref name="port"/>.</summary>
    protected abstract IReadOnlyList<string> Arguments(int port);

    /// <summary>Called for every stdout and stderr line before it is logged; subclasses pick extra facts out of it.</summary>
    protected virtual void OnOutputLine(string line)
    {
    }

    /// <summary>Sends <paramref name="signal"/> to <paramref name="pid"/>; returns libc kill's result (0 = sent).</summary>
    protected static int SendSignal(int pid, int signal) => kill(pid, signal);

    private async Task LaunchAsync(int port)
    {
        var args = Arguments(port);
        var ready = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = PulsarishBinary.StartInfo(args), EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => OnLine(process, e.Data, ready);
        process.ErrorDataReceived += (_, e) => OnLine(process, e.Data, null);
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException(
            $"{_role} exited with code {SafeExitCode(process)} before it was ready"));
        if (!process.Start())
        {
            throw new InvalidOperationException($"could not start pulsarish {_role}");
        }

        _process = process;
        Append($"[harness] started pid {process.Id}: {string.Join(' ', args)}");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var timeout = Task.Delay(_readyTimeout);
        if (await Task.WhenAny(ready.Task, timeout) == timeout)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"{_role} not ready within {_readyTimeout}; log:\n{Log}");
        }

        try
        {
            Address = await ready.Task;
        }
        catch (Exception ex)
        {
            throw new InvalidOperationException($"{ex.Message}; log:\n{Log}", ex);
        }

        Port = int.Parse(Address[(Address.LastIndexOf(':') + 1)..]);
    }

    private void OnLine(Process process, string? line, TaskCompletionSource<string>? ready)
    {
        if (line is null)
        {
            return;
        }

        OnOutputLine(line);
        Append($"[{process.Id}] {line}");
        if (ready is not null && line.StartsWith(_readyPrefix, StringComparison.Ordinal))
        {
            ready.TrySetResult(line[_readyPrefix.Length..].Trim());
        }
    }

    private void Append(string line)
    {
        lock (_log)
        {
            if (_log.Length > MaxLogChars)
            {
                _log.Remove(0, _log.Length - MaxLogChars / 2);
            }

            _log.AppendLine(line);
        }
    }

    private static string SafeExitCode(Process process)
    {
        try
        {
            return process.ExitCode.ToString();
        }
        catch (InvalidOperationException)
        {
            return "?";
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);
}
