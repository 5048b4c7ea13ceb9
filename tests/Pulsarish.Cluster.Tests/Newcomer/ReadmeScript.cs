using System.Text.RegularExpressions;

namespace Pulsarish.Cluster.Tests.Newcomer;

/// <summary>One marked shell block of README.md: its role in the walk-through and its command lines.</summary>
/// <param name="Section">The walk-through it belongs to (e.g. <c>quick-start</c>, <c>cluster</c>).</param>
/// <param name="Role"><c>server</c> (blocks; runs in the background until it prints <see cref="Ready"/>),
/// <c>client</c> (each line runs to completion and must exit 0) or <c>stop</c> (lines that stop the server).</param>
/// <param name="Ready">The stdout text a server prints once it serves.</param>
/// <param name="Lines">The command lines, comments and blank lines removed.</param>
public sealed record ReadmeBlock(string Section, string Role, string? Ready, IReadOnlyList<string> Lines);

/// <summary>
/// Reads the walk-throughs a newcomer follows out of README.md: every fenced <c>sh</c> block preceded by a marker
/// comment <c>&lt;!-- newcomer: ROLE SECTION [ready="TEXT"] --&gt;</c>. A README change that breaks a command breaks
/// the newcomer test that runs them.
/// </summary>
public static partial class ReadmeScript
{
    [GeneratedRegex("""<!--\s*newcomer:\s*(?<role>server|client|stop)\s+(?<section>[\w-]+)(\s+ready="(?<ready>[^"]+)")?\s*-->\s*\n```sh\n(?<body>.*?)\n```""",
        RegexOptions.Singleline)]
    private static partial Regex MarkedBlock();

    /// <summary>The marked blocks of <paramref name="readme"/> in document order.</summary>
    public static IReadOnlyList<ReadmeBlock> Parse(string readme)
    {
        var blocks = new List<ReadmeBlock>();
        foreach (Match m in MarkedBlock().Matches(readme.Replace("\r\n", "\n")))
        {
            var lines = m.Groups["body"].Value.Split('\n')
                .Select(l => StripComment(l).Trim())
                .Where(l => l.Length > 0)
                .ToList();
            blocks.Add(new ReadmeBlock(m.Groups["section"].Value, m.Groups["role"].Value,
                m.Groups["ready"].Success ? m.Groups["ready"].Value : null, lines));
        }
        return blocks;
    }

    /// <summary>The blocks of one walk-through.</summary>
    public static IReadOnlyList<ReadmeBlock> Section(IReadOnlyList<ReadmeBlock> blocks, string section) =>
        blocks.Where(b => b.Section == section).ToList();

    // A trailing "# comment" outside quotes (the README annotates some commands).
    private static string StripComment(string line)
    {
        bool single = false, dbl = false;
        for (int i = 0; i < line.Length; i++)
        {
            char c = line[i];
            if (c == '\'' && !dbl) single = !single;
            else if (c == '"' && !single) dbl = !dbl;
            else if (c == '#' && !single && !dbl && (i == 0 || char.IsWhiteSpace(line[i - 1]))) return line[..i];
        }
        return line;
    }
}
