using System.Text.RegularExpressions;
using Pulsarish.Broker.Errors;
using Pulsarish.Broker.Topics;

namespace Pulsarish.Broker.Admin;

/// <summary>
/// Pulsar's GetTopicsOfNamespace for clients (multi-topic consumers with a pattern): the namespace's topics by the
/// name a client subscribes to — non-partitioned topics, and partitioned topics by their own name, not their
/// partitions — optionally kept to those a regular expression matches whole.
/// </summary>
public static class TopicsOfNamespace
{
    /// <summary>Bound of the time one pattern may take on one name (wire input).</summary>
    private static readonly TimeSpan MatchTimeout = TimeSpan.FromMilliseconds(100);

    /// <summary>Sorted full names. Errors: BadRequest, NamespaceNotFound, InvalidTopicsPattern.</summary>
    public static async Task<IReadOnlyList<string>> ListAsync(NamespaceService namespaces, string @namespace, string? pattern,
        CancellationToken ct = default)
    {
        var (tenant, ns) = NamespaceService.ParseNamespace(@namespace);
        Regex? regex = null;
        if (!string.IsNullOrEmpty(pattern))
        {
            try
            {
                regex = new Regex($"^(?:{pattern})$", RegexOptions.CultureInvariant, MatchTimeout);
            }
            catch (ArgumentException e)
            {
                throw new InvalidTopicsPatternException($"invalid topics pattern '{EchoedName.Of(pattern)}': {e.Message}");
            }
        }

        var names = new SortedSet<string>(StringComparer.Ordinal);
        foreach (string topic in await namespaces.ListTopicsAsync(tenant, ns, ct).ConfigureAwait(false))
        {
            if (TopicName.TryParse(topic, out var name, out _) && !name!.IsPartition)
            {
                names.Add(name.FullName);
            }
        }
        foreach (string partitioned in await namespaces.ListPartitionedTopicsAsync(tenant, ns, ct).ConfigureAwait(false))
        {
            names.Add(TopicName.Parse(partitioned).FullName);
        }

        var result = new List<string>(names.Count);
        foreach (string name in names)
        {
            try
            {
                if (regex is null || regex.IsMatch(name))
                {
                    result.Add(name);
                }
            }
            catch (RegexMatchTimeoutException)
            {
                throw new InvalidTopicsPatternException($"topics pattern '{EchoedName.Of(pattern!)}' takes too long to match");
            }
        }
        return result;
    }
}
