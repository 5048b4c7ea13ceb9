using System.CommandLine;
using Pulsarish.Hosting.Configuration;

namespace Pulsarish.Cli;

/// <summary>
/// <c>pulsarish config show --component broker|bookie|standalone|autorecovery|cluster [--config FILE] [flags…]</c>:
/// prints the effective configuration of that component — every key of its sections after file, PULSARISH_
/// environment and flags (the component's own flags, e.g. <c>--ack-quorum 3</c>) — as JSON on stdout, secrets
/// masked. Validation failures follow on stderr (<c>error: InvalidConfiguration: …</c>, exit code 1), as the component
/// itself would refuse to start.
/// </summary>
public static class ConfigCommand
{
    private static readonly string[] Components = ["broker", "bookie", "standalone", "autorecovery", "cluster"];

    public static Command Create()
    {
        var command = new Command("config", "Inspect the configuration of a component");
        command.Subcommands.Add(Show());
        return command;
    }

    private static Command Show()
    {
        var component = new Option<string>("--component") { Description = "broker, bookie, standalone, autorecovery or cluster", Required = true };
        component.AcceptOnlyFromAmong(Components);
        var configFile = ConfigArguments.ConfigFileOption();
        var command = new Command("show", "Print the effective configuration (file < PULSARISH_ environment < flags) as JSON")
        {
            component, configFile,
        };
        // Everything else is the component's own flags, parsed by that component's arguments.
        command.TreatUnmatchedTokensAsErrors = false;
        command.SetAction((parse, _) => ConfigArguments.RunAsync(async () =>
        {
            string name = parse.GetValue(component)!;
            IComponentArguments arguments = name switch
            {
                "broker" => new BrokerCommand.Arguments(),
                "bookie" => new BookieCommand.Arguments(),
                "standalone" => new StandaloneCommand.Arguments(),
                "autorecovery" => new AutoRecoveryCommand.Arguments(),
                _ => new ClusterCommand.UpArguments(),
            };
            var componentCommand = new Command(name);
            arguments.AddTo(componentCommand);
            var componentParse = componentCommand.Parse(parse.UnmatchedTokens);
            if (componentParse.Errors.Count > 0)
            {
                foreach (var error in componentParse.Errors)
                {
                    await Console.Error.WriteLineAsync($"error: {error.Message}");
                }

                return 2;
            }

            string? file = parse.GetValue(configFile) ?? componentParse.GetValue(arguments.ConfigFile);
            var configuration = ConfigArguments.Build(file, arguments.Overrides(componentParse));
            ComponentSettings settings = name switch
            {
                "broker" => configuration.Broker(),
                "bookie" => configuration.Bookie(),
                "standalone" => configuration.Standalone(),
                "autorecovery" => configuration.AutoRecovery(),
                _ => configuration.Supervisor(),
            };
            Console.Out.WriteLine(EffectiveConfiguration.ToJson(settings.Sections));
            Console.Out.Flush();
            settings.EnsureValid();
            return 0;
        }));
        return command;
    }
}
