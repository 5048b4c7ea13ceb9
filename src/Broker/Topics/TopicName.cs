using System.Globalization;
using Pulsarish.Broker.Errors;

namespace Pulsarish.Broker.Topics;

/// <summary>
/// A parsed, validated topic name <c>persistent://tenant/namespace/name</c> (DESIGN.md §2). The short forms
/// <c>name</c> (→ <c>public/default</c>) and <c>tenant/namespace/name</c> are accepted as in Pulsar. A partition of a
/// partitioned topic is named <c>name-partition-N</c>. Immutable; equality is by the full name.
/// </summary>
public sealed class TopicName : IEquatable<TopicName>
{
    /// <summary>The only supported domain.</summary>
    public const string PersistentDomain = "persistent";

    /// <summary>Suffix of a partition's local name.</summary>
    public const string PartitionSuffix = "-partition-";

    /// <summary>Longest accepted full name.</summary>
    public const int MaxLength = 1024;

    /// <summary>Longest tenant, namespace or local name in UTF-8 bytes (a file or znode name's limit).</summary>
    public const int MaxNamePartBytes = 255;

    private TopicName(string tenant, string ns, string localName)
    {
        Tenant = tenant;
        Namespace = ns;
        LocalName = localName;
        FullName = $"{PersistentDomain}://{tenant}/{ns}/{localName}";
        PartitionIndex = -1;
        int at = localName.LastIndexOf(PartitionSuffix, StringComparison.Ordinal);
        if (at > 0 && int.TryParse(localName.AsSpan(at + PartitionSuffix.Length), NumberStyles.None,
                CultureInfo.InvariantCulture, out int index) && index >= 0
            && index.ToString(CultureInfo.InvariantCulture) == localName[(at + PartitionSuffix.Length)..])
        {
            PartitionIndex = index;
            PartitionedLocalName = localName[..at];
        }
        else
        {
            PartitionedLocalName = localName;
        }
    }

    public string Tenant { get; }
    public string Namespace { get; }

    /// <summary>The name inside the namespace (with the partition suffix, if any).</summary>
    public string LocalName { get; }

    /// <summary><c>persistent://tenant/namespace/name</c>.</summary>
    public string FullName { get; }

    /// <summary>The partition index, or -1 for a topic that is not a partition.</summary>
    public int PartitionIndex { get; }

    public bool IsPartition => PartitionIndex >= 0;

    /// <summary>The local name without the partition suffix.</summary>
    public string PartitionedLocalName { get; }

    /// <summary><c>tenant/namespace</c>.</summary>
    public string NamespaceName => Tenant + "/" + Namespace;

    /// <summary>The partitioned topic this partition belongs to (itself when not a partition).</summary>
    public TopicName PartitionedTopic => IsPartition ? new TopicName(Tenant, Namespace, PartitionedLocalName) : this;

    /// <summary>Partition <paramref name="index"/> of this (partitioned) topic.</summary>
    public TopicName Partition(int index)
    {
        if (index < 0)
        {
            throw new ArgumentOutOfRangeException(nameof(index));
        }
        return new TopicName(Tenant, Namespace, PartitionedLocalName + PartitionSuffix + index.ToString(CultureInfo.InvariantCulture));
    }

    /// <summary>Path segment of the local name in the metadata store (percent-encoded).</summary>
    public string EncodedLocalName => Uri.EscapeDataString(LocalName);

    /// <summary>Parses and validates; throws <see cref="InvalidTopicNameException"/>.</summary>
    public static TopicName Parse(string? topic)
    {
        if (!TryParse(topic, out var name, out string? error))
        {
            throw new InvalidTopicNameException(topic ?? "", error!);
        }
        return name!;
    }

    /// <summary>Parses without throwing; <paramref name="error"/> says why a name is invalid.</summary>
    public static bool TryParse(string? topic, out TopicName? name, out string? error)
    {
        name = null;
        if (string.IsNullOrWhiteSpace(topic))
        {
            error = "empty";
            return false;
        }
        if (topic.Length > MaxLength)
        {
            error = $"longer than {MaxLength} characters";
            return false;
        }
        string rest;
        int scheme = topic.IndexOf("://", StringComparison.Ordinal);
        if (scheme >= 0)
        {
            string domain = topic[..scheme];
            if (domain != PersistentDomain)
            {
                error = $"domain '{domain}' is not supported (only {PersistentDomain})";
                return false;
            }
            rest = topic[(scheme + 3)..];
        }
        else
        {
            rest = topic;
        }
        string[] parts = rest.Split('/');
        string tenant, ns, local;
        if (scheme < 0 && parts.Length == 1)
        {
            (tenant, ns, local) = ("public", "default", parts[0]);
        }
        else if (parts.Length == 3)
        {
            (tenant, ns, local) = (parts[0], parts[1], parts[2]);
        }
        else
        {
            error = "expected persistent://tenant/namespace/name";
            return false;
        }
        if (NamePartError(tenant) is { } tenantError)
        {
            error = $"invalid tenant: {tenantError}";
            return false;
        }
        if (NamePartError(ns) is { } namespaceError)
        {
            error = $"invalid namespace: {namespaceError}";
            return false;
        }
        if (LocalNameError(local) is { } localError)
        {
            error = $"invalid local name: {localError}";
            return false;
        }
        name = new TopicName(tenant, ns, local);
        error = null;
        return true;
    }

    /// <summary>Tenant and namespace names: letters, digits and <c>- _ = : .</c> (Pulsar's rule).</summary>
    public static bool IsValidNamePart(string part) => NamePartError(part) is null;

    /// <summary>
    /// Why <paramref name="part"/> is not a valid tenant or namespace name (null when it is): empty, <c>.</c> or
    /// <c>..</c>, longer than <see cref="MaxNamePartBytes"/>, or a character other than letters, digits and
    /// <c>- _ = : .</c> (Pulsar's rule).
    /// </summary>
    public static string? NamePartError(string? part)
    {
        if (string.IsNullOrEmpty(part))
        {
            return "empty";
        }
        if (part is "." or "..")
        {
            return "reserved name";
        }
        if (part.Length > MaxNamePartBytes)
        {
            return $"longer than {MaxNamePartBytes} bytes";
        }
        foreach (char c in part)
        {
            if (!(char.IsAsciiLetterOrDigit(c) || c is '-' or '_' or '=' or ':' or '.'))
            {
                return $"character U+{(int)c:X4} not allowed (letters, digits and - _ = : .)";
            }
        }
        return null;
    }

    /// <summary>Why <paramref name="local"/> is not a valid local topic name (null when it is).</summary>
    private static string? LocalNameError(string local)
    {
        if (local.Length == 0)
        {
            return "empty";
        }
        if (local is "." or "..")
        {
            return "reserved name";
        }
        if (System.Text.Encoding.UTF8.GetByteCount(local) > MaxNamePartBytes)
        {
            return $"longer than {MaxNamePartBytes} bytes";
        }
        foreach (char c in local)
        {
            if (char.IsControl(c) || c == '/')
            {
                return $"character U+{(int)c:X4} not allowed (control characters and /)";
            }
        }
        return null;
    }

    public bool Equals(TopicName? other) => other is not null && other.FullName == FullName;
    public override bool Equals(object? obj) => obj is TopicName other && Equals(other);
    public override int GetHashCode() => StringComparer.Ordinal.GetHashCode(FullName);
    public override string ToString() => FullName;
}
