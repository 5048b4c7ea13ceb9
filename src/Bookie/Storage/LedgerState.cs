namespace Pulsarish.Bookie.Storage;

/// <summary>
/// In-memory state of one ledger, the source of truth while the bookie runs; persisted into the index on flush and
/// journaled when it changes (fence, master key). Mutated under <c>lock (state)</c>.
/// </summary>
internal sealed class LedgerState(long ledgerId)
{
    public long LedgerId { get; } = ledgerId;

    public byte[]? MasterKey;

    /// <summary>The master key is in the journal or the index (else the next add journals it again).</summary>
    public bool MasterKeyDurable;

    public bool Fenced;

    /// <summary>The fence is in the journal or the index.</summary>
    public bool FenceDurable;

    public long Lac = -1;

    public long LastEntryId = -1;

    /// <summary>Set once deleted; a deleted state is never reused.</summary>
    public bool Deleted;

    public LedgerInfo ToInfo()
    {
        lock (this)
        {
            return new LedgerInfo(Fenced, Lac, LastEntryId);
        }
    }

    public LedgerRecord ToRecord()
    {
        lock (this)
        {
            return new LedgerRecord(Fenced, MasterKey, Lac, LastEntryId);
        }
    }
}
