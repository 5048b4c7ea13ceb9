using Pulsarish.Broker.Dispatch;

namespace Pulsarish.Broker.Topics;

/// <summary>Statistics of one publisher.</summary>
public sealed record PublisherStats(string Name, long ProducerId, long MessagesIn, long BytesIn, int PendingMessages);

/// <summary>
/// Statistics of a topic: rates (messages/bytes per second over the last stats update interval), totals, storage and the
/// subscriptions' backlogs.
/// </summary>
public sealed record TopicStats(
    string Topic,
    double MessagesInPerSecond,
    double BytesInPerSecond,
    double MessagesOutPerSecond,
    long MessagesInTotal,
    long BytesInTotal,
    long StorageSizeBytes,
    long Entries,
    int Ledgers,
    IReadOnlyList<PublisherStats> Publishers,
    IReadOnlyList<SubscriptionStats> Subscriptions);

/// <summary>One ledger of a managed ledger in <see cref="TopicInternalStats"/>.</summary>
public sealed record LedgerStats(long LedgerId, long Entries, long SizeBytes, long CreatedMillis);

/// <summary>One cursor in <see cref="TopicInternalStats"/>.</summary>
public sealed record CursorStats(string Name, string MarkDeletePosition, string ReadPosition, long IndividuallyDeletedEntries,
    long CursorLedgerId, long BacklogEntries);

/// <summary>Internal state of a topic's managed ledger: ledger list and cursor positions (Pulsar's internal stats).</summary>
public sealed record TopicInternalStats(
    string Topic,
    long Entries,
    long TotalSizeBytes,
    string LastConfirmedEntry,
    long CurrentLedgerId,
    IReadOnlyList<LedgerStats> Ledgers,
    IReadOnlyList<CursorStats> Cursors);
