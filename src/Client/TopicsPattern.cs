namespace Pulsarish.Client;

/// <summary>
/// A multi-topic consumer's pattern (<see cref="ConsumerOptions.TopicsPattern"/>): a regular expression over full
/// topic names of one namespace, completed like a topic name (<c>orders-.*</c> →
/// <c>persistent://public/default/orders-.*</c>). The tenant and namespace must be literal; the broker matches the
/// expression against whole names (Pulsar's topicsPattern).
/// </summary>
internal sealed record TopicsPattern(string Namespace, string Regex)
{
    public static TopicsPattern Parse(string pattern)
    {
        string full = TopicNames.Complete(pattern.Trim());
        if (!full.StartsWith(TopicNames.PersistentPrefix, StringComparison.Ordinal))
        {
            throw new ArgumentException($"topics pattern '{pattern}' must name persistent://tenant/namespace/…", nameof(pattern));
        }

        var parts = full[TopicNames.PersistentPrefix.Length..].Split('/', 3);
        if (parts.Length != 3 || !IsLiteral(parts[0]) || !IsLiteral(parts[1]))
        {
            throw new ArgumentException(
                $"topics pattern '{pattern}' must name one namespace literally: persistent://tenant/namespace/<regex>", nameof(pattern));
        }

        return new TopicsPattern(parts[0] + "/" + parts[1], full);
    }

    private static bool IsLiteral(string part)
    {
        if (part.Length == 0)
        {
            return false;
        }

        foreach (char c in part)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '=' or ':'))
            {
                return false;
            }
        }

        return true;
    }
}
