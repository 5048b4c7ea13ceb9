namespace Pulsarish.Client;

/// <summary>
/// Client-side topic name forms (DESIGN.md §2): short names are completed the way Pulsar does
/// (<c>name</c> → <c>persistent://public/default/name</c>, <c>tenant/ns/name</c> → <c>persistent://tenant/ns/name</c>);
/// partition <c>i</c> of a partitioned topic is the topic <c>name-partition-i</c>. Validation is the broker's.
/// </summary>
public static class TopicNames
{
    public const string PersistentPrefix = "persistent://";
    public const string DefaultNamespace = "public/default";
    public const string PartitionSuffix = "-partition-";

    /// <summary>The full name of <paramref name="topic"/>; names that are neither short form are returned unchanged.</summary>
    public static string Complete(string topic)
    {
        ArgumentNullException.ThrowIfNull(topic);
        if (topic.Contains("://", StringComparison.Ordinal))
        {
            return topic;
        }

        int slashes = 0;
        foreach (char c in topic)
        {
            if (c == '/')
            {
                slashes++;
            }
        }

        return slashes switch
        {
            0 => $"{PersistentPrefix}{DefaultNamespace}/{topic}",
            2 => PersistentPrefix + topic,
            _ => topic,
        };
    }

    /// <summary>The topic name of partition <paramref name="partition"/>.</summary>
    public static string Partition(string topic, int partition) => $"{topic}{PartitionSuffix}{partition}";
}
