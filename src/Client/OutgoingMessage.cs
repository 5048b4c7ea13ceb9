namespace Pulsarish.Client;

/// <summary>A message to send: payload plus optional key, properties, event time and explicit partition.</summary>
public sealed class OutgoingMessage
{
    public OutgoingMessage(ReadOnlyMemory<byte> payload) => Payload = payload;

    /// <summary>The payload; the producer copies it before <c>SendAsync</c> returns its task.</summary>
    public ReadOnlyMemory<byte> Payload { get; }

    /// <summary>Routing and Key_Shared key.</summary>
    public string? Key { get; init; }

    /// <summary>Application properties.</summary>
    public IReadOnlyDictionary<string, string>? Properties { get; init; }

    /// <summary>Application event time (null: none).</summary>
    public DateTimeOffset? EventTime { get; init; }

    /// <summary>Explicit partition of a partitioned topic (null: by key or routing mode).</summary>
    public int? Partition { get; init; }

    /// <summary>Delayed delivery: not delivered before this time (Shared and Key_Shared subscriptions; Exclusive and
    /// Failover deliver at once, as Pulsar does). Null: at once.</summary>
    public DateTimeOffset? DeliverAt { get; init; }

    /// <summary>Delayed delivery relative to the send: the producer sets <see cref="DeliverAt"/> to the send time plus
    /// this delay. Ignored when <see cref="DeliverAt"/> is set.</summary>
    public TimeSpan? DeliverAfter { get; init; }
}
