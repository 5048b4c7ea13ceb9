using System.Buffers.Binary;
using Pulsarish.Protocol.Errors;
using RocksDbSharp;

namespace Pulsarish.Bookie.Storage;

/// <summary>Per-ledger state as persisted in the index.</summary>
internal sealed record LedgerRecord(bool Fenced, byte[]? MasterKey, long Lac, long LastEntryId);

/// <summary>
/// The RocksDB index (DESIGN.md §5), in column families:
/// <c>entries</c>: big-endian (ledgerId, entryId) → (entryLogId i64, offset i64, recordBytes i32);
/// <c>ledgers</c>: ledgerId → fenced flag, master key, LAC, last entry id (presence = the ledger exists);
/// <c>entrylogs</c>: entryLogId → ledgerId → bytes of that ledger in that log (for compaction after restart);
/// <c>default</c>: the journal checkpoint. Every mutation goes through one synchronous <see cref="WriteBatch"/>.
/// Thread-safe (RocksDB is).
/// </summary>
internal sealed class LedgerIndex : IDisposable
{
    private const int LocationBytes = 20;
    private static readonly byte[] CheckpointKey = "checkpoint"u8.ToArray();

    private readonly RocksDb _db;
    private readonly ColumnFamilyHandle _entries;
    private readonly ColumnFamilyHandle _ledgers;
    private readonly ColumnFamilyHandle _entryLogs;
    private readonly WriteOptions _syncWrite = new WriteOptions().SetSync(true);

    public LedgerIndex(string dir)
    {
        Directory.CreateDirectory(dir);
        var options = new DbOptions().SetCreateIfMissing(true).SetCreateMissingColumnFamilies(true);
        var families = new ColumnFamilies
        {
            { "entries", new ColumnFamilyOptions() },
            { "ledgers", new ColumnFamilyOptions() },
            { "entrylogs", new ColumnFamilyOptions() },
        };
        _db = RocksDb.Open(options, dir, families);
        _entries = _db.GetColumnFamily("entries");
        _ledgers = _db.GetColumnFamily("ledgers");
        _entryLogs = _db.GetColumnFamily("entrylogs");
    }

    public bool TryGetLocation(long ledgerId, long entryId, out EntryLocation location)
    {
        Span<byte> key = stackalloc byte[16];
        EncodeEntryKey(key, ledgerId, entryId);
        Span<byte> value = stackalloc byte[LocationBytes];
        if (!_db.GetFixedSizeValue(key, value, _entries))
        {
            location = default;
            return false;
        }
        location = DecodeLocation(value);
        return true;
    }

    /// <summary>
    /// Fills <paramref name="into"/> with the locations of the entries of <paramref name="ledgerId"/> after
    /// <paramref name="afterEntryId"/>, in entry order; returns how many.
    /// </summary>
    public int NextLocations(long ledgerId, long afterEntryId, Span<(long EntryId, EntryLocation Location)> into)
    {
        if (into.IsEmpty || afterEntryId == long.MaxValue)
        {
            return 0;
        }
        Span<byte> start = stackalloc byte[16];
        EncodeEntryKey(start, ledgerId, afterEntryId + 1);
        int n = 0;
        using Iterator it = _db.NewIterator(_entries);
        for (it.Seek(start); it.Valid() && n < into.Length; it.Next())
        {
            ReadOnlySpan<byte> key = it.GetKeySpan();
            if (BinaryPrimitives.ReadInt64BigEndian(key) != ledgerId)
            {
                break;
            }
            into[n++] = (BinaryPrimitives.ReadInt64BigEndian(key[8..]), DecodeLocation(it.GetValueSpan()));
        }
        return n;
    }

    /// <summary>Every location of <paramref name="ledgerId"/>'s entries that lie in entry log <paramref name="logId"/>.</summary>
    public void CollectLocationsInLog(long ledgerId, long logId, List<(long EntryId, EntryLocation Location)> into)
    {
        Span<byte> start = stackalloc byte[16];
        EncodeEntryKey(start, ledgerId, 0);
        using Iterator it = _db.NewIterator(_entries);
        for (it.Seek(start); it.Valid(); it.Next())
        {
            ReadOnlySpan<byte> key = it.GetKeySpan();
            if (BinaryPrimitives.ReadInt64BigEndian(key) != ledgerId)
            {
                break;
            }
            EntryLocation location = DecodeLocation(it.GetValueSpan());
            if (location.LogId == logId)
            {
                into.Add((BinaryPrimitives.ReadInt64BigEndian(key[8..]), location));
            }
        }
    }

    public Dictionary<long, LedgerRecord> LoadLedgers()
    {
        var result = new Dictionary<long, LedgerRecord>();
        using Iterator it = _db.NewIterator(_ledgers);
        for (it.SeekToFirst(); it.Valid(); it.Next())
        {
            long ledgerId = BinaryPrimitives.ReadInt64BigEndian(it.GetKeySpan());
            result[ledgerId] = DecodeLedger(it.GetValueSpan());
        }
        return result;
    }

    public Dictionary<long, Dictionary<long, long>> LoadEntryLogUsage()
    {
        var result = new Dictionary<long, Dictionary<long, long>>();
        using Iterator it = _db.NewIterator(_entryLogs);
        for (it.SeekToFirst(); it.Valid(); it.Next())
        {
            long logId = BinaryPrimitives.ReadInt64BigEndian(it.GetKeySpan());
            ReadOnlySpan<byte> value = it.GetValueSpan();
            var perLedger = new Dictionary<long, long>();
            for (int i = 0; i + 16 <= value.Length; i += 16)
            {
                perLedger[BinaryPrimitives.ReadInt64BigEndian(value[i..])] = BinaryPrimitives.ReadInt64BigEndian(value[(i + 8)..]);
            }
            result[logId] = perLedger;
        }
        return result;
    }

    public JournalPosition? LoadCheckpoint()
    {
        byte[]? value = _db.Get(CheckpointKey);
        if (value is null)
        {
            return null;
        }
        if (value.Length != 16)
        {
            throw new CorruptDataException($"index checkpoint has {value.Length} bytes, expected 16");
        }
        return new JournalPosition(BinaryPrimitives.ReadInt64BigEndian(value), BinaryPrimitives.ReadInt64BigEndian(value.AsSpan(8)));
    }

    public WriteBatch NewBatch() => new();

    public void PutLocation(WriteBatch batch, long ledgerId, long entryId, EntryLocation location)
    {
        Span<byte> key = stackalloc byte[16];
        EncodeEntryKey(key, ledgerId, entryId);
        Span<byte> value = stackalloc byte[LocationBytes];
        BinaryPrimitives.WriteInt64BigEndian(value, location.LogId);
        BinaryPrimitives.WriteInt64BigEndian(value[8..], location.Offset);
        BinaryPrimitives.WriteInt32BigEndian(value[16..], location.RecordBytes);
        batch.Put(key, value, _entries);
    }

    public void PutLedger(WriteBatch batch, long ledgerId, LedgerRecord record)
    {
        Span<byte> key = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(key, ledgerId);
        int keyBytes = record.MasterKey?.Length ?? 0;
        byte[] value = new byte[1 + 8 + 8 + 2 + keyBytes];
        value[0] = (byte)((record.Fenced ? 1 : 0) | (record.MasterKey is null ? 0 : 2));
        BinaryPrimitives.WriteInt64BigEndian(value.AsSpan(1), record.Lac);
        BinaryPrimitives.WriteInt64BigEndian(value.AsSpan(9), record.LastEntryId);
        BinaryPrimitives.WriteUInt16BigEndian(value.AsSpan(17), (ushort)keyBytes);
        record.MasterKey?.CopyTo(value, 19);
        batch.Put(key, value, _ledgers);
    }

    /// <summary>Removes a ledger's record and every one of its entry locations.</summary>
    public void DeleteLedger(WriteBatch batch, long ledgerId)
    {
        byte[] key = new byte[8];
        BinaryPrimitives.WriteInt64BigEndian(key, ledgerId);
        batch.Delete(key, _ledgers);
        byte[] from = new byte[16];
        byte[] to = new byte[16];
        EncodeEntryKey(from, ledgerId, 0);
        EncodeEntryKey(to, ledgerId, long.MaxValue);
        batch.DeleteRange(from, 16, to, 16, _entries);
        batch.Delete(to, _entries);
    }

    public void PutEntryLogUsage(WriteBatch batch, long logId, Dictionary<long, long> perLedger)
    {
        Span<byte> key = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(key, logId);
        byte[] value = new byte[perLedger.Count * 16];
        int i = 0;
        foreach (KeyValuePair<long, long> pair in perLedger)
        {
            BinaryPrimitives.WriteInt64BigEndian(value.AsSpan(i), pair.Key);
            BinaryPrimitives.WriteInt64BigEndian(value.AsSpan(i + 8), pair.Value);
            i += 16;
        }
        batch.Put(key, value, _entryLogs);
    }

    public void DeleteEntryLogUsage(WriteBatch batch, long logId)
    {
        Span<byte> key = stackalloc byte[8];
        BinaryPrimitives.WriteInt64BigEndian(key, logId);
        batch.Delete(key, _entryLogs);
    }

    public void PutCheckpoint(WriteBatch batch, JournalPosition position)
    {
        Span<byte> value = stackalloc byte[16];
        BinaryPrimitives.WriteInt64BigEndian(value, position.FileId);
        BinaryPrimitives.WriteInt64BigEndian(value[8..], position.Offset);
        batch.Put(CheckpointKey, value);
    }

    /// <summary>Applies the batch atomically and durably (synchronous WAL write).</summary>
    public void Write(WriteBatch batch) => _db.Write(batch, _syncWrite);

    public void Dispose() => _db.Dispose();

    private static void EncodeEntryKey(Span<byte> key, long ledgerId, long entryId)
    {
        BinaryPrimitives.WriteInt64BigEndian(key, ledgerId);
        BinaryPrimitives.WriteInt64BigEndian(key[8..], entryId);
    }

    private static EntryLocation DecodeLocation(ReadOnlySpan<byte> value)
    {
        if (value.Length != LocationBytes)
        {
            throw new CorruptDataException($"index location has {value.Length} bytes, expected {LocationBytes}");
        }
        var location = new EntryLocation(BinaryPrimitives.ReadInt64BigEndian(value), BinaryPrimitives.ReadInt64BigEndian(value[8..]),
            BinaryPrimitives.ReadInt32BigEndian(value[16..]));
        if (location.RecordBytes <= EntryLog.HeaderBytes || location.Offset < 0)
        {
            throw new CorruptDataException($"index location {location} is impossible");
        }
        return location;
    }

    private static LedgerRecord DecodeLedger(ReadOnlySpan<byte> value)
    {
        if (value.Length < 19 || value.Length != 19 + BinaryPrimitives.ReadUInt16BigEndian(value[17..]))
        {
            throw new CorruptDataException($"index ledger record has a bad length {value.Length}");
        }
        byte flags = value[0];
        byte[]? masterKey = (flags & 2) != 0 ? value[19..].ToArray() : null;
        return new LedgerRecord((flags & 1) != 0, masterKey, BinaryPrimitives.ReadInt64BigEndian(value[1..]),
            BinaryPrimitives.ReadInt64BigEndian(value[9..]));
    }
}
