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

    /// <summary>
    /// A start info for <c>dotnet pulsarish.dll args…</c> with redirected stdout/stderr and, when given, extra
    /// environment variables (e.g. <c>PULSARISH_Broker__ManagedLedgerDefaultAckQuorum</c>).
    /// </summary>
    public static ProcessStartInfo StartInfo(IEnumerable<string> args, IReadOnlyDictionary<string, string>? environment = null)
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
        foreach (var (name, value) in environment ?? new Dictionary<string, string>())
        {
            info.Environment[name] = value;
        }

        return info;
    }

    private static string Locate()
    {
        // The build of src/Cli in the test assembly's configuration (bin/<Configuration>/<tfm>/): test projects
        // reference the CLI project for build order only, so nothing stale is copied beside them.
        var testBin = new DirectoryInfo(AppContext.BaseDirectory.TrimEnd(Path.DirectorySeparatorChar));
        string tfm = testBin.Name;
        string configuration = testBin.Parent?.Name ?? "Release";
        for (var dir = testBin; dir is not null; dir = dir.Parent)
        {
            string candidate = Path.Combine(dir.FullName, "src", "Cli", "bin", configuration, tfm, "pulsarish.dll");
            if (File.Exists(candidate))
            {
                return candidate;
            }
        }

        string beside = Path.Combine(AppContext.BaseDirectory, "pulsarish.dll");
        if (File.Exists(beside))
        {
            return beside;
        }
        throw new FileNotFoundException($"pulsarish.dll not found under src/Cli/bin/{configuration}/{tfm} nor beside {AppContext.BaseDirectory}");
    }
}
