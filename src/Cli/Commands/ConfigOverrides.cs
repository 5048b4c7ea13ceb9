using System.CommandLine;
using System.Globalization;

namespace Pulsarish.Cli;

/// <summary>
/// The configuration keys a command line sets: only flags given explicitly, so that a flag's default never hides
/// the file or the environment (precedence: file &lt; PULSARISH_ environment &lt; flags).
/// </summary>
public sealed class ConfigOverrides : Dictionary<string, string?>
{
    private readonly ParseResult _parse;

    public ConfigOverrides(ParseResult parse)
        : base(StringComparer.OrdinalIgnoreCase)
    {
        _parse = parse;
    }

    /// <summary>Sets <paramref name="key"/> when <paramref name="option"/> was given.</summary>
    public ConfigOverrides Set<T>(Option<T> option, string key, Func<T, string?>? format = null)
    {
        if (_parse.GetResult(option) is { Implicit: false })
        {
            T value = _parse.GetValue(option)!;
            this[key] = format is not null ? format(value) : Invariant(value);
        }

        return this;
    }

    /// <summary>
    /// Sets every <c>Section:Key=Value</c> of <c>--set</c> (repeatable): any key from the command line. Named flags
    /// applied after it win over it.
    /// </summary>
    public ConfigOverrides SetAll(Option<string[]> option)
    {
        foreach (string assignment in _parse.GetValue(option) ?? [])
        {
            int equals = assignment.IndexOf('=', StringComparison.Ordinal);
            if (equals <= 0)
            {
                throw new Pulsarish.Hosting.Configuration.InvalidConfigurationException(
                    $"--set {assignment}: expected Section:Key=Value (e.g. LedgerClient:AddTimeout=00:00:05)");
            }

            this[assignment[..equals].Trim()] = assignment[(equals + 1)..];
        }

        return this;
    }

    /// <summary>Milliseconds as a configuration TimeSpan ("hh:mm:ss.fff").</summary>
    public static string Millis(long milliseconds) => Invariant(TimeSpan.FromMilliseconds(milliseconds))!;

    private static string? Invariant(object? value) => value switch
    {
        null => null,
        bool b => b ? "true" : "false",
        TimeSpan t => t.ToString("c", CultureInfo.InvariantCulture),
        IFormattable f => f.ToString(null, CultureInfo.InvariantCulture),
        _ => value.ToString(),
    };
}
