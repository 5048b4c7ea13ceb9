using System.Text;

namespace Pulsarish.Cli.Verify;

/// <summary>Outcome of <c>verify check</c>: pass, fail (exit 1) or inconclusive (exit 2: the topic could not be read).</summary>
public enum CheckVerdict
{
    Pass,
    Fail,
    Inconclusive,
}

/// <summary>What <see cref="VerifyChecker"/> found on the topic against the ack log.</summary>
public sealed class CheckReport
{
    /// <summary>How many examples of each kind of anomaly a report keeps.</summary>
    public const int MaxExamples = 10;

    public CheckVerdict Verdict { get; set; }

    /// <summary>Why the verdict is inconclusive (or extra notes on a pass or fail).</summary>
    public string? Reason { get; set; }

    public bool? Deduplication { get; set; }

    public long Acked { get; set; }

    public long Read { get; set; }

    /// <summary>Acknowledged but not on the topic.</summary>
    public long Lost { get; set; }

    /// <summary>A producer's message read after one with a higher sequence number, or acknowledged with an id below an earlier sequence number's.</summary>
    public long Reordered { get; set; }

    /// <summary>Extra copies of a (producer, sequence number) on the topic.</summary>
    public long Duplicates { get; set; }

    /// <summary>On the topic though its send failed or timed out (allowed: the outcome of such a send is unknown).</summary>
    public long UnacknowledgedPresent { get; set; }

    /// <summary>On the topic but never sent by this run's producers (unreadable payload, unknown producer, sequence never tried).</summary>
    public long Phantoms { get; set; }

    /// <summary>Messages of producers outside this log's prefix (ignored).</summary>
    public long Foreign { get; set; }

    public List<string> Examples { get; } = [];

    public bool HasViolations => Lost > 0 || Reordered > 0 || Phantoms > 0 || (Deduplication == true && Duplicates > 0);

    public int ExitCode => Verdict switch { CheckVerdict.Pass => 0, CheckVerdict.Fail => 1, _ => 2 };

    public void Example(string text)
    {
        if (Examples.Count < MaxExamples * 5) Examples.Add(text);
    }

    public static CheckReport Inconclusive(string reason) => new() { Verdict = CheckVerdict.Inconclusive, Reason = reason };

    public string ToText()
    {
        var text = new StringBuilder();
        string verdict = Verdict switch { CheckVerdict.Pass => "PASS", CheckVerdict.Fail => "FAIL", _ => "INCONCLUSIVE" };
        text.AppendLine($"verdict: {verdict}{(Reason is null ? "" : $" ({Reason})")}");
        if (Verdict == CheckVerdict.Inconclusive && Read == 0 && Acked == 0) return text.ToString();
        string dedup = Deduplication switch { true => "on", false => "off", null => "unknown" };
        text.AppendLine($"acknowledged: {Acked}  read: {Read}  deduplication: {dedup}");
        text.AppendLine($"lost: {Lost}  reordered: {Reordered}  duplicates: {Duplicates}{(Deduplication == true && Duplicates > 0 ? " (an error: de-duplication is on)" : "")}  "
                        + $"unacknowledged-present: {UnacknowledgedPresent}  phantoms: {Phantoms}  foreign: {Foreign}");
        foreach (var example in Examples) text.AppendLine("  " + example);
        return text.ToString();
    }
}
