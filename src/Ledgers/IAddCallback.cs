using Pulsarish.Protocol.Bookie;

namespace Pulsarish.Ledgers;

/// <summary>Receives the outcome of one <see cref="IBookieClient.AddEntry"/> (no allocation per add).</summary>
public interface IAddCallback
{
    /// <summary>Called exactly once per add; must not block.</summary>
    void AddComplete(StatusCode status, string bookieId, long ledgerId, long entryId, object? context);
}
