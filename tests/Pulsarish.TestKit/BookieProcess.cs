namespace Pulsarish.TestKit;

/// <summary>
/// A real <c>pulsarish bookie</c> child process on 127.0.0.1 with its own temp directories. Waits for the
/// "bookie ready HOST:PORT" line; <see cref="PulsarishProcess.Kill9"/> is SIGKILL (Process.Kill);
/// <see cref="PulsarishProcess.RestartAsync"/> starts a new process on the same directories and port. Output is
/// captured to <see cref="PulsarishProcess.Log"/> for failure messages. Always disposed by PID.
/// </summary>
public sealed class BookieProcess : PulsarishProcess
{
    private readonly IReadOnlyList<string> _extraArgs;

    private BookieProcess(string dataDir, TempDir? ownedDir, IReadOnlyList<string> extraArgs, TimeSpan readyTimeout)
        : base("bookie", ownedDir, readyTimeout)
    {
        _extraArgs = extraArgs;
        JournalDir = Path.Combine(dataDir, "journal");
        LedgersDir = Path.Combine(dataDir, "ledgers");
        IndexDir = Path.Combine(dataDir, "index");
    }

    public string JournalDir { get; }
    public string LedgersDir { get; }
    public string IndexDir { get; }

    /// <summary>
    /// Starts a bookie. <paramref name="dataDir"/> null means a fresh temp dir owned (and deleted) by this object.
    /// <paramref name="extraArgs"/> are appended to the command line (e.g. "--group-wait-micros", "500").
    /// </summary>
    public static Task<BookieProcess> StartAsync(string? dataDir = null, IReadOnlyList<string>? extraArgs = null,
        TimeSpan? readyTimeout = null)
    {
        TempDir? owned = dataDir is null ? new TempDir("bookie") : null;
        var bookie = new BookieProcess(dataDir ?? owned!.Path, owned, extraArgs ?? [],
            readyTimeout ?? TimeSpan.FromSeconds(60));
        return StartAsync(bookie, port: 0);
    }

    /// <inheritdoc />
    protected override IReadOnlyList<string> Arguments(int port)
    {
        var args = new List<string>
        {
            "bookie", "--journal-dir", JournalDir, "--ledgers-dir", LedgersDir, "--index-dir", IndexDir,
            "--port", port.ToString(), "--bind-address", "127.0.0.1",
        };
        if (!_extraArgs.Contains("--metrics-port"))
        {
            args.AddRange(["--metrics-port", "0"]);   // the process default is 8000; bookies of a test share the machine
        }
        args.AddRange(_extraArgs);
        return args;
    }
}
