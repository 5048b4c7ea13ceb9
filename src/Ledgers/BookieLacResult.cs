using Pulsarish.Protocol.Bookie;

namespace Pulsarish.Ledgers;

/// <summary>A bookie's answer to read-LAC or fence: its known LAC and highest stored entry (-1 when none).</summary>
public readonly record struct BookieLacResult(StatusCode Status, long Lac, long LastEntryId, bool Fenced)
{
    public static BookieLacResult Failed(StatusCode status) => new(status, -1, -1, false);
}
