using System.Globalization;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Client;

/// <summary>
/// Identity of a message (DESIGN.md §2): the entry's position <c>(LedgerId, EntryId)</c> in the topic's managed
/// ledger, the message's index inside the producer batch that became the entry (-1 when it names the whole entry),
/// and the partition (-1 for a non-partitioned topic). Ordered by ledger, entry, batch index, partition.
/// Text form: <c>ledger:entry:batchIndex:partition</c> (see <see cref="Parse"/>).
/// </summary>
public readonly struct MessageId : IEquatable<MessageId>, IComparable<MessageId>
{
    /// <summary>Before every message: a subscription or seek to it starts at the first message.</summary>
    public static readonly MessageId Earliest = new(-1, -1, -1, -1);

    /// <summary>After every message: a subscription or seek to it starts with the next published message.</summary>
    public static readonly MessageId Latest = new(long.MaxValue, long.MaxValue, -1, -1);

    public MessageId(long ledgerId, long entryId, int batchIndex = -1, int partition = -1, int batchSize = 0)
    {
        LedgerId = ledgerId;
        EntryId = entryId;
        BatchIndex = batchIndex;
        Partition = partition;
        BatchSize = batchSize;
        Topic = null;
    }

    private MessageId(MessageId id, string? topic)
        : this(id.LedgerId, id.EntryId, id.BatchIndex, id.Partition, id.BatchSize)
    {
        Topic = topic;
    }

    public long LedgerId { get; }
    public long EntryId { get; }

    /// <summary>Index inside the entry's batch, -1 when the entry is not a batch.</summary>
    public int BatchIndex { get; }

    /// <summary>Partition index, -1 for a non-partitioned topic.</summary>
    public int Partition { get; }

    /// <summary>Messages in the entry's batch when known (0 = unknown). Not part of equality or ordering.</summary>
    public int BatchSize { get; }

    /// <summary>
    /// The topic (the partition's name for a partitioned topic) of a received message or a last message id; null
    /// when not known (parsed or constructed ids). A multi-topic consumer routes acks by it (Pulsar's
    /// TopicMessageId). Not part of equality, ordering or the text form.
    /// </summary>
    public string? Topic { get; }

    /// <summary>The same message id on another partition.</summary>
    public MessageId WithPartition(int partition) => new(new MessageId(LedgerId, EntryId, BatchIndex, partition, BatchSize), Topic);

    /// <summary>The same message id naming the topic it belongs to.</summary>
    public MessageId WithTopic(string? topic) => new(this, topic);

    /// <summary>Parses <c>ledger:entry[:batchIndex[:partition]]</c>, or the words <c>earliest</c> / <c>latest</c>.</summary>
    public static MessageId Parse(string text)
    {
        if (!TryParse(text, out var id))
        {
            throw new FormatException($"'{text}' is not a message id (expected ledger:entry[:batchIndex[:partition]])");
        }

        return id;
    }

    /// <summary>Non-throwing <see cref="Parse"/>.</summary>
    public static bool TryParse(string? text, out MessageId id)
    {
        id = default;
        if (string.IsNullOrWhiteSpace(text))
        {
            return false;
        }

        if (text.Equals("earliest", StringComparison.OrdinalIgnoreCase))
        {
            id = Earliest;
            return true;
        }

        if (text.Equals("latest", StringComparison.OrdinalIgnoreCase))
        {
            id = Latest;
            return true;
        }

        var parts = text.Split(':');
        if (parts.Length is < 2 or > 4)
        {
            return false;
        }

        int batchIndex = -1;
        int partition = -1;
        if (!long.TryParse(parts[0], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long ledger)
            || !long.TryParse(parts[1], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out long entry)
            || (parts.Length > 2 && !int.TryParse(parts[2], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out batchIndex))
            || (parts.Length > 3 && !int.TryParse(parts[3], NumberStyles.AllowLeadingSign, CultureInfo.InvariantCulture, out partition)))
        {
            return false;
        }

        id = new MessageId(ledger, entry, batchIndex, partition);
        return true;
    }

    /// <inheritdoc />
    public override string ToString()
        => string.Create(CultureInfo.InvariantCulture, $"{LedgerId}:{EntryId}:{BatchIndex}:{Partition}");

    public int CompareTo(MessageId other)
    {
        int c = LedgerId.CompareTo(other.LedgerId);
        if (c != 0)
        {
            return c;
        }

        c = EntryId.CompareTo(other.EntryId);
        if (c != 0)
        {
            return c;
        }

        c = BatchIndex.CompareTo(other.BatchIndex);
        return c != 0 ? c : Partition.CompareTo(other.Partition);
    }

    public bool Equals(MessageId other)
        => LedgerId == other.LedgerId && EntryId == other.EntryId && BatchIndex == other.BatchIndex
           && Partition == other.Partition;

    public override bool Equals(object? obj) => obj is MessageId other && Equals(other);

    public override int GetHashCode() => HashCode.Combine(LedgerId, EntryId, BatchIndex, Partition);

    public static bool operator ==(MessageId left, MessageId right) => left.Equals(right);
    public static bool operator !=(MessageId left, MessageId right) => !left.Equals(right);
    public static bool operator <(MessageId left, MessageId right) => left.CompareTo(right) < 0;
    public static bool operator >(MessageId left, MessageId right) => left.CompareTo(right) > 0;
    public static bool operator <=(MessageId left, MessageId right) => left.CompareTo(right) <= 0;
    public static bool operator >=(MessageId left, MessageId right) => left.CompareTo(right) >= 0;

    /// <summary>The wire form.</summary>
    public MessageIdData ToProto() => new()
    {
        LedgerId = LedgerId, EntryId = EntryId, BatchIndex = BatchIndex, Partition = Partition, BatchSize = BatchSize,
    };

    /// <summary>From the wire form.</summary>
    public static MessageId FromProto(MessageIdData data)
        => new(data.LedgerId, data.EntryId, data.BatchIndex, data.Partition, data.BatchSize);
}
