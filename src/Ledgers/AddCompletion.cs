namespace Pulsarish.Ledgers;

/// <summary>
/// Callback of <see cref="LedgerHandle.AddEntry"/>: <paramref name="error"/> is null when the entry was added.
/// Invoked in entry order, never concurrently for one handle. <paramref name="entryId"/> is -1 when the add was
/// refused before an id was assigned.
/// </summary>
public delegate void AddCompletion(long entryId, Exception? error, object? state);
