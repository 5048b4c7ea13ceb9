using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Topics;

/// <summary>
/// A message id (ledgerId, entryId, batchIndex, partition) — DESIGN.md §2. <see cref="BatchIndex"/> is -1 for the
/// whole entry (a send receipt names the entry of the batch); <see cref="BatchSize"/> the messages in the entry.
/// </summary>
public readonly record struct MessageId(long LedgerId, long EntryId, int BatchIndex, int Partition, int BatchSize)
{
    public Position Position => new(LedgerId, EntryId);

    public MessageIdData ToProto() => new()
    {
        LedgerId = LedgerId,
        EntryId = EntryId,
        BatchIndex = BatchIndex,
        Partition = Partition,
        BatchSize = BatchSize,
    };

    public static MessageId FromProto(MessageIdData data)
    {
        ArgumentNullException.ThrowIfNull(data);
        return new(data.LedgerId, data.EntryId, data.BatchIndex, data.Partition, data.BatchSize);
    }

    public override string ToString() => $"{LedgerId}:{EntryId}:{BatchIndex}:{Partition}";
}
