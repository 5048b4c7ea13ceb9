namespace Pulsarish.Client;

/// <summary>
/// How a producer of a partitioned topic picks a partition for a message without an explicit partition
/// (Pulsar's <c>MessageRoutingMode</c>). Keyed messages always go to partition <c>murmur3(utf8(key)) mod N</c>,
/// so per-key order holds.
/// </summary>
public enum MessageRoutingMode
{
    /// <summary>Messages without a key rotate over the partitions.</summary>
    RoundRobinPartition = 0,

    /// <summary>Messages without a key all go to one partition chosen at random when the producer is created.</summary>
    SinglePartition = 1,
}
