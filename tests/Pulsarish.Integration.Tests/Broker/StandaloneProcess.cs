using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;
using Pulsarish.TestKit;

namespace Pulsarish.Integration.Tests.Broker;

/// <summary>
/// A real <c>pulsarish standalone</c> child process (embedded metadata, 3 bookies, 1 broker) on 127.0.0.1 with its
/// own data directory. Waits for the "standalone ready HOST:PORT" line; <see cref="Kill9"/> is SIGKILL;
/// <see cref="RestartAsync"/> starts a new process on the same data directory and port. Output is captured to
/// <see cref="Log"/> for failure messages. Always disposed by PID.
/// </summary>
public sealed partial class StandaloneProcess : IAsyncDisposable
{
    private const string ReadyPrefix = "standalone ready ";
    private const int MaxLogChars = 1_000_000;
    private const int Sigterm = 15;

    private readonly TempDir? _ownedDir;
    private readonly TimeSpan _readyTimeout;
    private readonly StringBuilder _log = new();
    private Process? _process;

    private StandaloneProcess(string dataDir, TempDir? ownedDir, TimeSpan readyTimeout)
    {
        DataDir = dataDir;
        _ownedDir = ownedDir;
        _readyTimeout = readyTimeout;
    }

    public string DataDir { get; }

    /// <summary>"127.0.0.1:port" of the broker once ready.</summary>
    public string Address { get; private set; } = "";

    /// <summary>The broker port (kept across restarts).</summary>
    public int Port { get; private set; }

    public int Pid => _process?.Id ?? -1;

    public bool IsRunning => _process is { HasExited: false };

    /// <summary>Everything the process(es) printed, prefixed by PID.</summary>
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

    /// <summary>Starts standalone on a free port; <paramref name="dataDir"/> null means a fresh temp dir owned by this object.</summary>
    public static async Task<StandaloneProcess> StartAsync(string? dataDir = null, TimeSpan? readyTimeout = null)
    {
        TempDir? owned = dataDir is null ? new TempDir("standalone") : null;
        var standalone = new StandaloneProcess(dataDir ?? owned!.Path, owned, readyTimeout ?? TimeSpan.FromSeconds(90));
        try
        {
            await standalone.LaunchAsync(FreePort.Next());
            return standalone;
        }
        catch
        {
            await standalone.DisposeAsync();
            throw;
        }
    }

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
            throw new TimeoutException($"standalone {process.Id} did not die after SIGKILL");
        }

        Append($"[harness] pid {process.Id} killed with SIGKILL");
    }

    /// <summary>SIGTERM (graceful stop) and wait for the exit code.</summary>
    public async Task<int> StopAsync(TimeSpan? timeout = null)
    {
        var process = _process ?? throw new InvalidOperationException("not started");
        if (!process.HasExited)
        {
            _ = kill(process.Id, Sigterm);
        }

        using var cts = new CancellationTokenSource(timeout ?? TimeSpan.FromSeconds(40));
        await process.WaitForExitAsync(cts.Token);
        return process.ExitCode;
    }

    /// <summary>Starts a new process on the same data directory and port.</summary>
    public async Task RestartAsync()
    {
        if (IsRunning)
        {
            throw new InvalidOperationException($"standalone {Pid} still running");
        }

        _process?.Dispose();
        _process = null;
        await LaunchAsync(Port);
    }

    public async ValueTask DisposeAsync()
    {
        if (_process is not null)
        {
            try
            {
                if (!_process.HasExited)
                {
                    _process.Kill(entireProcessTree: true);
                    await _process.WaitForExitAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
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

    private async Task LaunchAsync(int port)
    {
        var args = new List<string> { "standalone", "--data-dir", DataDir, "--port", port.ToString() };
        var ready = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = PulsarishBinary.StartInfo(args), EnableRaisingEvents = true };
        process.OutputDataReceived += (_, e) => OnLine(process, e.Data, ready);
        process.ErrorDataReceived += (_, e) => OnLine(process, e.Data, null);
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException(
            $"standalone exited with code {SafeExitCode(process)} before it was ready"));
        if (!process.Start())
        {
            throw new InvalidOperationException("could not start pulsarish standalone");
        }

        _process = process;
        Append($"[harness] started pid {process.Id}: {string.Join(' ', args)}");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var timeout = Task.Delay(_readyTimeout);
        if (await Task.WhenAny(ready.Task, timeout) == timeout)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"standalone not ready within {_readyTimeout}; log:\n{Log}");
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

        Append($"[{process.Id}] {line}");
        if (ready is not null && line.StartsWith(ReadyPrefix, StringComparison.Ordinal))
        {
            ready.TrySetResult(line[ReadyPrefix.Length..].Trim());
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
