using Pulsarish.TestKit;

namespace Pulsarish.Integration.Tests.Broker;

/// <summary>
/// A real <c>pulsarish standalone</c> child process (embedded metadata, 3 bookies, 1 broker) on 127.0.0.1 with its
/// own data directory. Waits for the "standalone ready HOST:PORT" line; <see cref="PulsarishProcess.Kill9"/> is
/// SIGKILL; <see cref="PulsarishProcess.RestartAsync"/> starts a new process on the same data directory and port.
/// Output is captured to <see cref="PulsarishProcess.Log"/> for failure messages. Always disposed by PID.
/// </summary>
public sealed class StandaloneProcess : PulsarishProcess
{
    private const string MetricsPrefix = "standalone metrics ";

    private readonly IReadOnlyList<string> _extraArgs;

    private StandaloneProcess(string dataDir, TempDir? ownedDir, TimeSpan readyTimeout, IReadOnlyList<string> extraArgs)
        : base("standalone", ownedDir, readyTimeout)
    {
        DataDir = dataDir;
        _extraArgs = extraArgs;
    }

    public string DataDir { get; }

    /// <summary>The <c>/metrics</c> URL printed at start-up, if metrics are on.</summary>
    public string? MetricsUrl { get; private set; }

    /// <summary>
    /// Starts standalone on a free port; <paramref name="dataDir"/> null means a fresh temp dir owned by this object.
    /// <paramref name="extraArgs"/> are appended to the command line (e.g. "--metrics-port", "0").
    /// </summary>
    public static Task<StandaloneProcess> StartAsync(string? dataDir = null, TimeSpan? readyTimeout = null,
        IReadOnlyList<string>? extraArgs = null)
    {
        TempDir? owned = dataDir is null ? new TempDir("standalone") : null;
        var standalone = new StandaloneProcess(dataDir ?? owned!.Path, owned, readyTimeout ?? TimeSpan.FromSeconds(90),
            extraArgs ?? []);
        return StartAsync(standalone, FreePort.Next());
    }

    /// <inheritdoc />
    protected override IReadOnlyList<string> Arguments(int port)
    {
        var args = new List<string> { "standalone", "--data-dir", DataDir, "--port", port.ToString() };
        if (!_extraArgs.Contains("--metrics-port"))
        {
            args.AddRange(["--metrics-port", "0"]);   // the process default is 8080
        }
        args.AddRange(_extraArgs);
        return args;
    }

    /// <inheritdoc />
    protected override void OnOutputLine(string line)
    {
        if (line.StartsWith(MetricsPrefix, StringComparison.Ordinal))
        {
            MetricsUrl = line[MetricsPrefix.Length..].Trim();
        }
    }
}
