namespace Pulsarish.Bookie.Storage;

/// <summary>Where an entry's record lives: entry log id, byte offset of the record, and the record's total bytes.</summary>
internal readonly record struct EntryLocation(long LogId, long Offset, int RecordBytes)
{
    /// <summary>Bytes of the entry itself (the record minus its header).</summary>
    public int DataBytes => RecordBytes - EntryLog.HeaderBytes;
}
