using Pulsarish.Ledgers;

namespace Pulsarish.Ledgers.Tests.Real;

/// <summary>Wraps a real <see cref="IBookieClient"/> and delays every add sent to one bookie (a slow disk).</summary>
public sealed class DelayingBookieClient(IBookieClient inner, string slowBookieId, TimeSpan delay) : IBookieClient
{
    public void AddEntry(string bookieId, in BookieAddRequest request, IAddCallback callback, object? context)
    {
        if (bookieId != slowBookieId)
        {
            inner.AddEntry(bookieId, request, callback, context);
            return;
        }
        var copy = request;
        _ = Task.Delay(delay).ContinueWith(_ => inner.AddEntry(bookieId, copy, callback, context), TaskScheduler.Default);
    }

    public Task<BookieReadResult> ReadEntryAsync(string bookieId, long ledgerId, long entryId, bool fence,
        ReadOnlyMemory<byte> masterKey, CancellationToken ct = default)
        => inner.ReadEntryAsync(bookieId, ledgerId, entryId, fence, masterKey, ct);

    public Task<BookieLacResult> ReadLacAsync(string bookieId, long ledgerId, CancellationToken ct = default)
        => inner.ReadLacAsync(bookieId, ledgerId, ct);

    public Task<BookieLacResult> FenceAsync(string bookieId, long ledgerId, ReadOnlyMemory<byte> masterKey,
        CancellationToken ct = default)
        => inner.FenceAsync(bookieId, ledgerId, masterKey, ct);

    public ValueTask DisposeAsync() => inner.DisposeAsync();
}
