using System.Diagnostics;

namespace Pulsarish.TestKit;

/// <summary>
/// Locates the built <c>pulsarish.dll</c> (copied next to the test assembly when the test project references
/// src/Cli) and starts it as <c>dotnet pulsarish.dll …</c>.
/// </summary>
public static class PulsarishBinary
{
    /// <summary>Full path of pulsarish.dll.</summary>
    public static string DllPath { get; } = Locate();

    /// <summary>The dotnet host that runs it (the one running the tests when known).</summary>
    public static string DotnetHost { get; } = Environment.GetEnvironmentVariable("DOTNET_HOST_PATH") is { Length: > 0 } host
        && File.Exists(host) ? host : "dotnet";

    /// <summary>A start info for <c>dotnet pulsarish.dll args…</c> with redirected stdout/stderr.</summary>
    public static ProcessStartInfo StartInfo(IEnumerable<string> args)
    {
        var info = new ProcessStartInfo(DotnetHost)
        {
            RedirectStandardOutput = true,
            RedirectStandardError = true,
            RedirectStandardInput = false,
            UseShellExecute = false,
            WorkingDirectory = Path.GetDirectoryName(DllPath)!,
        };
        info.ArgumentList.Add(DllPath);
        foreach (var arg in args)
        {
            info.ArgumentList.Add(arg);
        }

        info.Environment["DOTNET_CLI_TELEMETRY_OPTOUT"] = "1";
        info.Environment["DOTNET_NOLOGO"] = "1";
        return info;
    }

    private static string Locate()
    {
        string beside = Path.Combine(AppContext.BaseDirectory, "pulsarish.dll");
        if (File.Exists(beside))
        {
            return beside;
        }

        // Fallback for test projects without the Cli reference: the newest build under src/Cli/bin.
        for (var dir = new DirectoryInfo(AppContext.BaseDirectory); dir is not null; dir = dir.Parent)
        {
            string cliBin = Path.Combine(dir.FullName, "src", "Cli", "bin");
            if (Directory.Exists(cliBin))
            {
                var newest = Directory.EnumerateFiles(cliBin, "pulsarish.dll", SearchOption.AllDirectories)
                    .Select(p => new FileInfo(p)).OrderByDescending(f => f.LastWriteTimeUtc).FirstOrDefault();
                if (newest is not null)
                {
                    return newest.FullName;
                }
            }
        }

        throw new FileNotFoundException($"pulsarish.dll not found beside {AppContext.BaseDirectory} nor under src/Cli/bin");
    }
}
