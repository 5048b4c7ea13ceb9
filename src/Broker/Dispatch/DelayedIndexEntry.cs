using System.Runtime.InteropServices;
using Pulsarish.Broker.Topics;

namespace Pulsarish.Broker.Dispatch;

/// <summary>
/// One delayed entry in the tracker's index: its delivery time and position, three packed longs (24 bytes, no object
/// per message — Pulsar's TripleLongPriorityQueue). Ordered by time, then position.
/// </summary>
[StructLayout(LayoutKind.Sequential)]
internal readonly struct DelayedIndexEntry(long deliverAtMillis, long ledgerId, long entryId) : IComparable<DelayedIndexEntry>
{
    public const int Size = 3 * sizeof(long);

    public readonly long DeliverAtMillis = deliverAtMillis;
    public readonly long LedgerId = ledgerId;
    public readonly long EntryId = entryId;

    public Position Position => new(LedgerId, EntryId);

    public int CompareTo(DelayedIndexEntry other)
    {
        int c = DeliverAtMillis.CompareTo(other.DeliverAtMillis);
        if (c != 0)
        {
            return c;
        }
        c = LedgerId.CompareTo(other.LedgerId);
        return c != 0 ? c : EntryId.CompareTo(other.EntryId);
    }
}
