namespace Pulsarish.Broker.Topics;

/// <summary>Metadata paths of managed ledgers and cursors (DESIGN.md §6).</summary>
public static class ManagedLedgerPaths
{
    public const string Root = "/managed-ledgers";

    /// <summary>Name of the record holding the de-duplication snapshot of a topic (not a subscription).</summary>
    public const string DeduplicationCursor = "pulsar.dedup";

    /// <summary>/managed-ledgers/&lt;tenant&gt;/&lt;ns&gt;/&lt;topic&gt;.</summary>
    public static string Topic(TopicName topic) => $"{Root}/{topic.Tenant}/{topic.Namespace}/{topic.EncodedLocalName}";

    /// <summary>/managed-ledgers/&lt;tenant&gt;/&lt;ns&gt;.</summary>
    public static string Namespace(string tenant, string ns) => $"{Root}/{tenant}/{ns}";

    /// <summary>/managed-ledgers/&lt;tenant&gt;/&lt;ns&gt;/&lt;topic&gt;/&lt;sub&gt;.</summary>
    public static string Cursor(string topicPath, string cursorName) => topicPath + "/" + Uri.EscapeDataString(cursorName);

    /// <summary>The cursor name of a child record of a topic.</summary>
    public static string CursorName(string childName) => Uri.UnescapeDataString(childName);
}
