namespace Pulsarish.Bookie.Storage;

/// <summary>The <c>flags</c> byte of a journal record: what the record means and how its payload is laid out.</summary>
public enum JournalRecordKind : byte
{
    /// <summary>An added entry; payload = [lac i64 big-endian][entry bytes].</summary>
    Entry = 1,

    /// <summary>The ledger was fenced; no payload.</summary>
    Fence = 2,

    /// <summary>The ledger's master key; payload = the key.</summary>
    MasterKey = 3,

    /// <summary>The ledger was deleted; no payload.</summary>
    Delete = 4,
}
