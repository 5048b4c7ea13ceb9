using Pulsarish.Protocol.Errors;

namespace Pulsarish.Broker.Ownership;

/// <summary>
/// Splits a topic name into its full form and its namespace, the unit of bundle ownership:
/// <c>persistent://tenant/ns/name</c>; a bare <c>name</c> means <c>persistent://public/default/name</c> and
/// <c>tenant/ns/name</c> means <c>persistent://tenant/ns/name</c> (Pulsar's short forms).
/// </summary>
public static class TopicNamespace
{
    public const string DefaultTenant = "public";
    public const string DefaultNamespace = "default";
    private const string PersistentScheme = "persistent://";
    private const string NonPersistentScheme = "non-persistent://";

    /// <summary>The canonical topic name and its <c>tenant/namespace</c>; throws <see cref="BadRequestException"/> when malformed.</summary>
    public static (string FullName, string Namespace) Parse(string topic)
    {
        if (string.IsNullOrWhiteSpace(topic)) throw new BadRequestException("empty topic name");
        string scheme = PersistentScheme;
        string rest = topic;
        if (topic.StartsWith(PersistentScheme, StringComparison.Ordinal))
        {
            rest = topic[PersistentScheme.Length..];
        }
        else if (topic.StartsWith(NonPersistentScheme, StringComparison.Ordinal))
        {
            scheme = NonPersistentScheme;
            rest = topic[NonPersistentScheme.Length..];
        }
        else if (topic.Contains("://", StringComparison.Ordinal))
        {
            throw new BadRequestException($"unknown topic domain in '{topic}'");
        }
        else if (!topic.Contains('/'))
        {
            rest = DefaultTenant + "/" + DefaultNamespace + "/" + topic;
        }

        var parts = rest.Split('/', 3);
        if (parts.Length != 3 || parts[0].Length == 0 || parts[1].Length == 0 || parts[2].Length == 0)
            throw new BadRequestException($"topic '{topic}' is not of the form persistent://tenant/namespace/name");
        return (scheme + rest, parts[0] + "/" + parts[1]);
    }
}
