using System.Diagnostics;
using System.Text;
using Pulsarish.Hosting.Supervisor;

namespace Pulsarish.Cluster.Tests.Newcomer;

/// <summary>
/// The first hour of a new user, as a test: a clean copy of the repository (the files git tracks, as a clone has
/// them), then README.md's own walk-throughs run in it — the Quick start (standalone, produce, consume, perf) and the
/// local cluster (cluster up, admin commands, cluster down) — with the commands extracted from the README's marked
/// blocks. Servers run in the background until they print their ready line and are stopped by PID.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class NewcomerTests
{
    private static readonly TimeSpan ServerReadyTimeout = TimeSpan.FromMinutes(6);   // the first command builds the CLI
    private static readonly TimeSpan ClientCommandTimeout = TimeSpan.FromMinutes(3);
    private static readonly TimeSpan StopTimeout = TimeSpan.FromSeconds(60);

    private string _copy = null!;

    [OneTimeSetUp]
    public void CopyTheRepository()
    {
        string root = RepositoryRoot();
        _copy = Path.Combine(Path.GetTempPath(), "pulsarish-newcomer-" + Guid.NewGuid().ToString("N")[..8]);
        Directory.CreateDirectory(_copy);
        foreach (string relative in TrackedFiles(root))
        {
            string source = Path.Combine(root, relative);
            if (!File.Exists(source))
            {
                continue;   // deleted in the working tree
            }
            string target = Path.Combine(_copy, relative);
            Directory.CreateDirectory(Path.GetDirectoryName(target)!);
            File.Copy(source, target);
            if ((File.GetUnixFileMode(source) & UnixFileMode.UserExecute) != 0)
            {
                File.SetUnixFileMode(target, File.GetUnixFileMode(source));
            }
        }
        TestContext.Progress.WriteLine($"newcomer copy of {root} in {_copy}");
    }

    [OneTimeTearDown]
    public void RemoveTheCopy()
    {
        try
        {
            Directory.Delete(_copy, recursive: true);
        }
        catch (IOException)
        {
        }
    }

    [Test]
    public async Task QuickStartRunsFromACleanCopy() => await RunWalkThroughAsync("quick-start");

    [Test]
    public async Task LocalClusterWalkThroughRunsFromACleanCopy() => await RunWalkThroughAsync("cluster");

    [Test]
    public void DockerBuildContextExcludesLocalBuildOutput()
    {
        string root = RepositoryRoot();
        string ignore = Path.Combine(root, ".dockerignore");
        Assert.That(File.Exists(ignore), Is.True, ".dockerignore is missing: `COPY src/ src/` would bring in bin/ and obj/ of a local build");
        var patterns = File.ReadAllLines(ignore).Select(l => l.Trim()).Where(l => l.Length > 0 && !l.StartsWith('#')).ToList();
        Assert.That(patterns, Does.Contain("**/bin/").Or.Contain("**/bin"), ".dockerignore must exclude every bin/");
        Assert.That(patterns, Does.Contain("**/obj/").Or.Contain("**/obj"), ".dockerignore must exclude every obj/");

        // Every project the CLI is built from is copied for the restore layer, and every copied project exists.
        string dockerfile = File.ReadAllText(Path.Combine(root, "deploy", "Dockerfile"));
        var copied = dockerfile.Split('\n').Where(l => l.TrimStart().StartsWith("COPY src/", StringComparison.Ordinal) && l.Contains(".csproj"))
            .Select(l => l.Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries)[1]).ToList();
        var projects = Directory.GetFiles(Path.Combine(root, "src"), "*.csproj", SearchOption.AllDirectories)
            .Select(p => Path.GetRelativePath(root, p).Replace('\\', '/')).ToList();
        Assert.That(copied, Is.EquivalentTo(projects), "deploy/Dockerfile's restore layer must copy exactly the projects under src/");
    }

    private async Task RunWalkThroughAsync(string section)
    {
        var blocks = ReadmeScript.Section(ReadmeScript.Parse(await File.ReadAllTextAsync(Path.Combine(_copy, "README.md"))), section);
        Assert.That(blocks.Count(b => b.Role == "server"), Is.EqualTo(1), $"README walk-through '{section}' needs one marked server block");
        Assert.That(blocks.Any(b => b.Role == "client"), Is.True, $"README walk-through '{section}' has no marked client block");
        Process? server = null;
        var serverOutput = new StringBuilder();
        try
        {
            foreach (var block in blocks)
            {
                switch (block.Role)
                {
                    case "server":
                        Assert.That(block.Lines, Has.Count.EqualTo(1), "a server block holds exactly the one blocking command");
                        Assert.That(block.Ready, Is.Not.Null, "a server block names its ready line");
                        server = await StartServerAsync(block.Lines[0], block.Ready!, serverOutput);
                        break;
                    case "client":
                    case "stop":
                        foreach (string line in block.Lines)
                        {
                            var (code, output) = await RunAsync(line, ClientCommandTimeout);
                            TestContext.Progress.WriteLine($"$ {line}\n{Tail(output)}");
                            Assert.That(code, Is.EqualTo(0), $"README command failed (exit {code}): {line}\n{output}\nserver:\n{Tail(Snapshot(serverOutput))}");
                        }
                        if (block.Role == "stop" && server is not null)
                        {
                            using var timeout = new CancellationTokenSource(StopTimeout);
                            await server.WaitForExitAsync(timeout.Token);
                        }
                        break;
                }
            }
        }
        finally
        {
            if (server is not null)
            {
                await StopAsync(server);
            }
        }
    }

    private async Task<Process> StartServerAsync(string command, string ready, StringBuilder output)
    {
        var process = new Process { StartInfo = Shell("exec " + command) };
        var isReady = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        process.OutputDataReceived += (_, e) =>
        {
            if (e.Data is null) return;
            lock (output) output.AppendLine(e.Data);
            if (e.Data.Contains(ready, StringComparison.Ordinal)) isReady.TrySetResult();
        };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        var exited = process.WaitForExitAsync();
        var first = await Task.WhenAny(isReady.Task, exited, Task.Delay(ServerReadyTimeout));
        if (first != isReady.Task)
        {
            await StopAsync(process);
            Assert.Fail($"`{command}` did not print '{ready}' ({(first == exited ? "it exited" : "timed out")}):\n{Tail(Snapshot(output))}");
        }
        TestContext.Progress.WriteLine($"$ {command}  (background, pid {process.Id})\n{Tail(Snapshot(output))}");
        return process;
    }

    private async Task<(int Code, string Output)> RunAsync(string command, TimeSpan timeout)
    {
        using var process = new Process { StartInfo = Shell(command) };
        var output = new StringBuilder();
        process.OutputDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.ErrorDataReceived += (_, e) => { if (e.Data is not null) lock (output) output.AppendLine(e.Data); };
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            await process.WaitForExitAsync(cts.Token);
        }
        catch (OperationCanceledException)
        {
            process.Kill(entireProcessTree: true);
            return (-1, Snapshot(output) + $"\n(killed after {timeout})");
        }
        process.WaitForExit();
        return (process.ExitCode, Snapshot(output));
    }

    private ProcessStartInfo Shell(string command)
    {
        var info = new ProcessStartInfo("bash")
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = true,   // children of the supervisor watch stdin; keep it open while we run
            UseShellExecute = false,
            WorkingDirectory = _copy,
        };
        info.ArgumentList.Add("-c");
        info.ArgumentList.Add(command);
        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        info.Environment.Remove("PULSARISH_SERVICE_URL");
        return info;
    }

    /// <summary>SIGTERM (graceful, as Ctrl-C), then SIGKILL of the whole tree after the grace period.</summary>
    private static async Task StopAsync(Process process)
    {
        if (!process.HasExited)
        {
            PosixSignals.Terminate(process.Id);
            using var grace = new CancellationTokenSource(StopTimeout);
            try
            {
                await process.WaitForExitAsync(grace.Token);
            }
            catch (OperationCanceledException)
            {
                process.Kill(entireProcessTree: true);
                await process.WaitForExitAsync();
            }
        }
        process.Dispose();
    }

    private static string Snapshot(StringBuilder output)
    {
        lock (output) return output.ToString();
    }

    private static string Tail(string text, int lines = 25)
    {
        var all = text.Split('\n');
        return string.Join('\n', all.Skip(Math.Max(0, all.Length - lines)));
    }

    private static string RepositoryRoot()
    {
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            if (File.Exists(Path.Combine(dir.FullName, "Pulsarish.sln")) && File.Exists(Path.Combine(dir.FullName, "README.md")))
            {
                return dir.FullName;
            }
        }
        throw new DirectoryNotFoundException("repository root (Pulsarish.sln) not found above " + AppContext.BaseDirectory);
    }

    private static IEnumerable<string> TrackedFiles(string root)
    {
        var info = new ProcessStartInfo("git") { RedirectStandardOutput = true, UseShellExecute = false, WorkingDirectory = root };
        foreach (var a in new[] { "ls-files", "-z" }) info.ArgumentList.Add(a);
        using var git = Process.Start(info)!;
        string listing = git.StandardOutput.ReadToEnd();
        git.WaitForExit();
        Assert.That(git.ExitCode, Is.EqualTo(0), "git ls-files failed");
        return listing.Split('\0', StringSplitOptions.RemoveEmptyEntries);
    }
}
