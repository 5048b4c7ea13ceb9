using System.Collections.Frozen;
using Pulsarish.Protocol.Bookie;

namespace Pulsarish.Ledgers;

/// <summary>
/// <see cref="IBookieClient"/> that calls bookies of this process directly (<see cref="ILocalBookie"/>: no
/// serialization, no HTTP/2, no loopback socket) and sends everything else to <paramref name="remote"/>, as
/// BookKeeper's local transport does for in-JVM bookies. Thread-safe.
/// </summary>
public sealed class LocalBookieClient(IEnumerable<ILocalBookie> localBookies, IBookieClient remote) : IBookieClient
{
    private readonly FrozenDictionary<string, ILocalBookie> _local =
        localBookies.ToFrozenDictionary(b => b.BookieId, StringComparer.Ordinal);
    private volatile bool _disposed;

    /// <summary>Whether <paramref name="bookieId"/> is served in this process.</summary>
    public bool IsLocal(string bookieId) => _local.ContainsKey(bookieId);

    public void AddEntry(string bookieId, in BookieAddRequest request, IAddCallback callback, object? context)
    {
        if (!_local.TryGetValue(bookieId, out var bookie))
        {
            remote.AddEntry(bookieId, request, callback, context);
        }
        else if (_disposed)
        {
            callback.AddComplete(StatusCode.Error, bookieId, request.LedgerId, request.EntryId, context);
        }
        else
        {
            bookie.AddEntry(request, callback, context);
        }
    }

    public Task<BookieReadResult> ReadEntryAsync(string bookieId, long ledgerId, long entryId, bool fence,
        ReadOnlyMemory<byte> masterKey, CancellationToken ct = default)
        => !_local.TryGetValue(bookieId, out var bookie) ? remote.ReadEntryAsync(bookieId, ledgerId, entryId, fence, masterKey, ct)
            : _disposed ? Task.FromResult(BookieReadResult.Failed(StatusCode.Error))
            : bookie.ReadEntryAsync(ledgerId, entryId, fence, masterKey, ct);

    public Task<BookieLacResult> ReadLacAsync(string bookieId, long ledgerId, CancellationToken ct = default)
        => !_local.TryGetValue(bookieId, out var bookie) ? remote.ReadLacAsync(bookieId, ledgerId, ct)
            : _disposed ? Task.FromResult(BookieLacResult.Failed(StatusCode.Error))
            : bookie.ReadLacAsync(ledgerId, ct);

    public Task<BookieLacResult> FenceAsync(string bookieId, long ledgerId, ReadOnlyMemory<byte> masterKey,
        CancellationToken ct = default)
        => !_local.TryGetValue(bookieId, out var bookie) ? remote.FenceAsync(bookieId, ledgerId, masterKey, ct)
            : _disposed ? Task.FromResult(BookieLacResult.Failed(StatusCode.Error))
            : bookie.FenceAsync(ledgerId, masterKey, ct);

    public async ValueTask DisposeAsync()
    {
        _disposed = true;
        await remote.DisposeAsync().ConfigureAwait(false);
    }
}
