using Pulsarish.Protocol.Bookie;

namespace Pulsarish.Ledgers;

/// <summary>
/// Transport to bookies as the ledger client sees it (DESIGN.md §3-§4). Bookies are addressed by id; the
/// implementation resolves and caches connections. Thread-safe. No method throws for a bookie-side or transport
/// failure: the outcome is reported as a <see cref="StatusCode"/> (<see cref="StatusCode.Error"/> for transport
/// errors), so the caller's quorum logic sees every answer the same way.
/// </summary>
public interface IBookieClient : IAsyncDisposable
{
    /// <summary>
    /// Sends one add to <paramref name="bookieId"/> and returns at once; the outcome is reported exactly once to
    /// <paramref name="callback"/> (possibly on another thread, possibly before this method returns).
    /// The payload and master key memory must stay unchanged until the callback ran.
    /// </summary>
    void AddEntry(string bookieId, in BookieAddRequest request, IAddCallback callback, object? context);

    /// <summary>Reads one entry; with <paramref name="fence"/> the ledger is durably fenced first.</summary>
    Task<BookieReadResult> ReadEntryAsync(string bookieId, long ledgerId, long entryId, bool fence,
        ReadOnlyMemory<byte> masterKey, CancellationToken ct = default);

    /// <summary>The LAC the bookie knows (piggy-backed on adds) without fencing.</summary>
    Task<BookieLacResult> ReadLacAsync(string bookieId, long ledgerId, CancellationToken ct = default);

    /// <summary>Fence-and-read-LAC (DESIGN.md §4 step 2).</summary>
    Task<BookieLacResult> FenceAsync(string bookieId, long ledgerId, ReadOnlyMemory<byte> masterKey,
        CancellationToken ct = default);
}
