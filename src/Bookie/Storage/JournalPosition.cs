namespace Pulsarish.Bookie.Storage;

/// <summary>A position in the journal: a file id and a byte offset in that file. Ordered by (file, offset).</summary>
public readonly record struct JournalPosition(long FileId, long Offset) : IComparable<JournalPosition>
{
    public int CompareTo(JournalPosition other)
    {
        int c = FileId.CompareTo(other.FileId);
        return c != 0 ? c : Offset.CompareTo(other.Offset);
    }

    public static bool operator <(JournalPosition a, JournalPosition b) => a.CompareTo(b) < 0;
    public static bool operator >(JournalPosition a, JournalPosition b) => a.CompareTo(b) > 0;
    public static bool operator <=(JournalPosition a, JournalPosition b) => a.CompareTo(b) <= 0;
    public static bool operator >=(JournalPosition a, JournalPosition b) => a.CompareTo(b) >= 0;

    public override string ToString() => $"{FileId:x}:{Offset}";
}
