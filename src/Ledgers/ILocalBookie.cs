namespace Pulsarish.Ledgers;

/// <summary>
/// A bookie running in this process, reached through calls instead of the network (BookKeeper's local transport,
/// used by <c>pulsarish standalone</c>). Same contract as <see cref="IBookieClient"/> for one bookie: every outcome,
/// including shutdown, comes back as a status, never as an exception.
/// </summary>
public interface ILocalBookie
{
    /// <summary>The id the bookie is registered under (what ensembles name).</summary>
    string BookieId { get; }

    /// <inheritdoc cref="IBookieClient.AddEntry"/>
    void AddEntry(in BookieAddRequest request, IAddCallback callback, object? context);

    /// <inheritdoc cref="IBookieClient.ReadEntryAsync"/>
    Task<BookieReadResult> ReadEntryAsync(long ledgerId, long entryId, bool fence, ReadOnlyMemory<byte> masterKey,
        CancellationToken ct = default);

    /// <inheritdoc cref="IBookieClient.ReadLacAsync"/>
    Task<BookieLacResult> ReadLacAsync(long ledgerId, CancellationToken ct = default);

    /// <inheritdoc cref="IBookieClient.FenceAsync"/>
    Task<BookieLacResult> FenceAsync(long ledgerId, ReadOnlyMemory<byte> masterKey, CancellationToken ct = default);
}
