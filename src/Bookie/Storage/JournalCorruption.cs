namespace Pulsarish.Bookie.Storage;

/// <summary>
/// Damage found in a journal file at replay: the file, the byte offset of the first bad record, and what is wrong
/// there. Acknowledged entries at or after <paramref name="Offset"/> in that file may be lost.
/// </summary>
public readonly record struct JournalCorruption(string FilePath, long Offset, string Problem)
{
    public override string ToString() => $"journal file {FilePath} offset {Offset}: {Problem}";
}
