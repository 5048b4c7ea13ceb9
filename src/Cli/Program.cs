using System.CommandLine;

namespace Pulsarish.Cli;

public static class Program
{
    public static async Task<int> Main(string[] args)
    {
        var root = new RootCommand("Pulsarish: a Pulsar-style message broker on BookKeeper-style replicated storage");
        return await root.Parse(args).InvokeAsync();
    }
}
