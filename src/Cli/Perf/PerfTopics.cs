using System.CommandLine;

namespace Pulsarish.Cli;

/// <summary>
/// The options <c>perf produce</c> and <c>perf consume</c> share beyond the connection: several topics named like
/// pulsar-perf's (<c>--num-topics N</c>: TOPIC-0 … TOPIC-(N-1)), and an HdrHistogram interval log of the latencies.
/// </summary>
internal static class PerfTopics
{
    public static Option<int> NumTopicsOption() => new("--num-topics", "-t")
    {
        Description = "Topics: with N > 1 the topic names are TOPIC-0 … TOPIC-(N-1), each with the given producers or consumers",
        DefaultValueFactory = _ => 1,
    };

    public static Option<string?> HistogramFileOption() => new("--histogram-file")
    {
        Description = "Write the latency of every report interval to this HdrHistogram interval log (microseconds)",
    };

    /// <summary>The topic names of a run: <paramref name="topic"/> itself for one, suffixed -0..-(N-1) for more.</summary>
    public static IReadOnlyList<string> Names(string topic, int count) =>
        count == 1 ? [topic] : Enumerable.Range(0, count).Select(i => $"{topic}-{i}").ToArray();
}
