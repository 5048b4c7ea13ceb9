namespace Pulsarish.Client;

/// <summary>How the consumers of one subscription share its messages (DESIGN.md §2).</summary>
public enum SubscriptionType
{
    /// <summary>One consumer at a time; a second one is refused (SubscriptionBusy).</summary>
    Exclusive = 0,

    /// <summary>Messages spread over all consumers; no cumulative acks.</summary>
    Shared = 1,

    /// <summary>One active consumer; the others take over in order when it goes.</summary>
    Failover = 2,

    /// <summary>Like Shared, but all messages of one key go to the same consumer; no cumulative acks.</summary>
    KeyShared = 3,
}
