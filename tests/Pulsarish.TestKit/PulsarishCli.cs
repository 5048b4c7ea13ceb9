using System.Diagnostics;
using System.Text;
using NUnit.Framework;

namespace Pulsarish.TestKit;

/// <summary>Runs <c>pulsarish …</c> as a child process (time-bounded, killed by PID on timeout).</summary>
public static class PulsarishCli
{
    /// <summary>Runs a command to completion: exit code and stdout+stderr.</summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(params string[] args)
    {
        using var process = new Process { StartInfo = PulsarishBinary.StartInfo(args) };
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        process.WaitForExit();
        lock (output)
        {
            return (process.ExitCode, output.ToString());
        }
    }

    /// <summary>Runs a command to completion: exit code, stdout and stderr apart.</summary>
    public static Task<(int Code, string Output, string Error)> RunSeparatelyAsync(params string[] args)
        => RunSeparatelyAsync(null, args);

    /// <summary>Runs a command with extra environment variables to completion: exit code, stdout and stderr apart.</summary>
    public static async Task<(int Code, string Output, string Error)> RunSeparatelyAsync(
        IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        using var process = new Process { StartInfo = PulsarishBinary.StartInfo(args, environment) };
        var output = new StringBuilder();
        var error = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (error) error.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        try
        {
            await process.WaitForExitAsync(timeout.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw;
        }
        process.WaitForExit();
        lock (output) lock (error)
        {
            return (process.ExitCode, output.ToString(), error.ToString());
        }
    }

    /// <summary>Starts a long-running command and waits for a stdout line starting with <paramref name="readyPrefix"/>.</summary>
    public static Task<(Process Process, StringBuilder Output)> StartAsync(string readyPrefix, params string[] args)
        => StartAsync(readyPrefix, null, args);

    /// <summary>
    /// Starts a long-running command with extra environment variables and waits for a stdout line starting with
    /// <paramref name="readyPrefix"/>.
    /// </summary>
    public static async Task<(Process Process, StringBuilder Output)> StartAsync(string readyPrefix,
        IReadOnlyDictionary<string, string>? environment, params string[] args)
    {
        var process = new Process { StartInfo = PulsarishBinary.StartInfo(args, environment) };
        var output = new StringBuilder();
        var ready = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            lock (output) output.AppendLine(e.Data);
            if (e.Data?.StartsWith(readyPrefix, StringComparison.Ordinal) == true)
            {
                ready.TrySetResult();
            }
        };
        process.ErrorDataReceived += (_, e) => { lock (output) output.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        if (await Task.WhenAny(ready.Task, Task.Delay(TimeSpan.FromSeconds(60))) != ready.Task)
        {
            process.Kill(entireProcessTree: true);
            process.Dispose();
            lock (output) Assert.Fail($"'{readyPrefix}' not printed in time:\n{output}");
        }
        return (process, output);
    }

    /// <summary>Kills a started command by PID and waits for it.</summary>
    public static async Task KillAsync(Process process)
    {
        if (!process.HasExited)
        {
            process.Kill(entireProcessTree: true);
        }
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        await process.WaitForExitAsync(timeout.Token);
        process.Dispose();
    }
}
