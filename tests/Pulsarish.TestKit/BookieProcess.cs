using System.Diagnostics;
using System.Runtime.InteropServices;
using System.Text;

namespace Pulsarish.TestKit;

/// <summary>
/// A real <c>pulsarish bookie</c> child process on 127.0.0.1 with its own temp directories. Waits for the
/// "bookie ready HOST:PORT" line; <see cref="Kill9"/> is SIGKILL (Process.Kill); <see cref="RestartAsync"/> starts a
/// new process on the same directories and port. Output is captured to <see cref="Log"/> for failure messages.
/// Always disposed by PID.
/// </summary>
public sealed partial class BookieProcess : IAsyncDisposable
{
    private const string ReadyPrefix = "bookie ready ";
    private const int MaxLogChars = 1_000_000;

    private readonly TempDir? _ownedDir;
    private readonly IReadOnlyList<string> _extraArgs;
    private readonly TimeSpan _readyTimeout;
    private readonly StringBuilder _log = new();
    private Process? _process;
    private TaskCompletionSource<string> _ready = new(TaskCreationOptions.RunContinuationsAsynchronously);

    private BookieProcess(string dataDir, TempDir? ownedDir, IReadOnlyList<string> extraArgs, TimeSpan readyTimeout)
    {
        _ownedDir = ownedDir;
        _extraArgs = extraArgs;
        _readyTimeout = readyTimeout;
        JournalDir = Path.Combine(dataDir, "journal");
        LedgersDir = Path.Combine(dataDir, "ledgers");
        IndexDir = Path.Combine(dataDir, "index");
    }

    public string JournalDir { get; }
    public string LedgersDir { get; }
    public string IndexDir { get; }

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

    /// <summary>
    /// Starts a bookie. <paramref name="dataDir"/> null means a fresh temp dir owned (and deleted) by this object.
    /// <paramref name="extraArgs"/> are appended to the command line (e.g. "--group-wait-micros", "500").
    /// </summary>
    public static async Task<BookieProcess> StartAsync(string? dataDir = null, IReadOnlyList<string>? extraArgs = null,
        TimeSpan? readyTimeout = null)
    {
        TempDir? owned = dataDir is null ? new TempDir("bookie") : null;
        var bookie = new BookieProcess(dataDir ?? owned!.Path, owned, extraArgs ?? [],
            readyTimeout ?? TimeSpan.FromSeconds(60));
        try
        {
            await bookie.LaunchAsync(port: 0);
            return bookie;
        }
        catch
        {
            await bookie.DisposeAsync();
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
            throw new TimeoutException($"bookie {process.Id} did not die after SIGKILL");
        }

        Append($"[harness] pid {process.Id} killed with SIGKILL");
    }

    /// <summary>SIGTERM (graceful stop, flush) and wait for the exit code.</summary>
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

    /// <summary>Starts a new process on the same directories and port (after <see cref="Kill9"/> or a stop).</summary>
    public async Task RestartAsync()
    {
        if (IsRunning)
        {
            throw new InvalidOperationException($"bookie {Pid} still running");
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
        var args = new List<string>
        {
            "bookie", "--journal-dir", JournalDir, "--ledgers-dir", LedgersDir, "--index-dir", IndexDir,
            "--port", port.ToString(), "--bind-address", "127.0.0.1",
        };
        args.AddRange(_extraArgs);
        _ready = new TaskCompletionSource<string>(TaskCreationOptions.RunContinuationsAsynchronously);
        var process = new Process { StartInfo = PulsarishBinary.StartInfo(args), EnableRaisingEvents = true };
        var ready = _ready;
        process.OutputDataReceived += (_, e) => OnLine(process, e.Data, ready);
        process.ErrorDataReceived += (_, e) => OnLine(process, e.Data, null);
        process.Exited += (_, _) => ready.TrySetException(new InvalidOperationException(
            $"bookie exited with code {SafeExitCode(process)} before it was ready"));
        if (!process.Start())
        {
            throw new InvalidOperationException("could not start pulsarish bookie");
        }

        _process = process;
        Append($"[harness] started pid {process.Id}: {string.Join(' ', args)}");
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();

        var timeout = Task.Delay(_readyTimeout);
        if (await Task.WhenAny(ready.Task, timeout) == timeout)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"bookie not ready within {_readyTimeout}; log:\n{Log}");
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

    private const int Sigterm = 15;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int kill(int pid, int signal);
}
