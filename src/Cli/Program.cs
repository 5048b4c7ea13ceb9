using System.CommandLine;

namespace Pulsarish.Cli;

/// <summary>Entry point of the `pulsarish` executable: one subcommand group per file: Commands/ (servers, produce, consume, config), Perf/, Shell/ (bookie shell), Admin/ (broker admin).</summary>
public static class Program
{
    /// <summary>How long a SIGTERM/Ctrl-C waits for a command (a bookie's graceful flush) before the process exits.</summary>
    private static readonly TimeSpan ProcessTerminationTimeout = TimeSpan.FromSeconds(30);

    public static async Task<int> Main(string[] args)
    {
        var root = new RootCommand("Pulsarish: a Pulsar-style message broker on BookKeeper-style replicated storage");
        root.Subcommands.Add(BookieCommand.Create());
        root.Subcommands.Add(PerfCommand.Create());
        root.Subcommands.Add(AutoRecoveryCommand.Create());
        BookieShellCommands.AddTo(root);
        AdminCommands.AddTo(root);
        root.Subcommands.Add(ClusterCommand.Create());
        root.Subcommands.Add(BrokerCommand.Create());
        root.Subcommands.Add(StandaloneCommand.Create());
        root.Subcommands.Add(ProduceCommand.Create());
        root.Subcommands.Add(ConsumeCommand.Create());
        root.Subcommands.Add(ReadCommand.Create());
        root.Subcommands.Add(HealthCommand.Create());
        root.Subcommands.Add(ConfigCommand.Create());
        root.Subcommands.Add(Verify.VerifyCommand.Create());
        var config = new InvocationConfiguration { ProcessTerminationTimeout = ProcessTerminationTimeout };
        return await root.Parse(args).InvokeAsync(config);
    }
}
