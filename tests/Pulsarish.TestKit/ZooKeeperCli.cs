using System.Diagnostics;
using System.Text;

namespace Pulsarish.TestKit;

/// <summary>Runs one command of the server's own shell, zkCli.sh, against a server (interoperability checks).</summary>
public static class ZooKeeperCli
{
    public const string Script = "/usr/share/zookeeper/bin/zkCli.sh";
    private static readonly TimeSpan Timeout = TimeSpan.FromSeconds(60);

    /// <summary>
    /// Runs <c>zkCli.sh -server <paramref name="server"/> <paramref name="command"/>...</c>; returns the exit code and
    /// standard output and error, interleaved. The process is killed by PID when it does not finish in time.
    /// </summary>
    public static async Task<(int ExitCode, string Output)> RunAsync(string server, params string[] command)
    {
        var psi = new ProcessStartInfo(Script)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            UseShellExecute = false,
        };
        psi.ArgumentList.Add("-server");
        psi.ArgumentList.Add(server);
        foreach (var part in command) psi.ArgumentList.Add(part);
        psi.Environment["CLIENT_JVMFLAGS"] = "-Xshare:auto -XX:TieredStopAtLevel=1 -XX:+UseSerialGC -Xmx128m";
        using var process = new Process { StartInfo = psi };
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (output) output.AppendLine(e.Data);
        };
        process.ErrorDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (output) output.AppendLine(e.Data);
        };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(Timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            throw new TimeoutException($"zkCli.sh {string.Join(' ', command)} did not finish within {Timeout}");
        }
        process.WaitForExit();
        lock (output) return (process.ExitCode, output.ToString());
    }
}
