using System.CommandLine;

namespace Pulsarish.Cli;

/// <summary>
/// The flags of a server command (broker, bookie, standalone, autorecovery, cluster up) and the configuration keys
/// they set; shared by the command itself and <c>pulsarish config show</c>.
/// </summary>
public interface IComponentArguments
{
    /// <summary>The command's <c>--config FILE</c>.</summary>
    Option<string?> ConfigFile { get; }

    /// <summary>Adds the flags (and <c>--config</c>) to <paramref name="command"/>.</summary>
    void AddTo(Command command);

    /// <summary>The keys set by the flags given on this command line.</summary>
    ConfigOverrides Overrides(ParseResult parse);
}
