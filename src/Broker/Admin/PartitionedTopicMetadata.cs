namespace Pulsarish.Broker.Admin;

/// <summary>Stored as JSON at /admin/partitioned-topics/&lt;tenant&gt;/&lt;ns&gt;/&lt;topic&gt;.</summary>
public sealed class PartitionedTopicMetadata
{
    public int Partitions { get; set; }
}
