using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Ledgers;

/// <summary>
/// Which bookies are up and where they listen (BookKeeper's BookieWatcher over /ledgers/available). Thread-safe.
/// </summary>
public interface IBookieDirectory
{
    /// <summary>The registrations of the bookies that are currently up (read-only ones included, flagged).</summary>
    Task<IReadOnlyList<BookieServiceInfo>> GetAvailableAsync(CancellationToken ct = default);
}
