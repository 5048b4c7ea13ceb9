using System.Buffers;
using System.Buffers.Binary;
using System.Diagnostics;
using System.Globalization;
using Microsoft.Win32.SafeHandles;
using Pulsarish.Protocol.Checksums;
using Pulsarish.Protocol.Errors;
using Pulsarish.Metadata;

namespace Pulsarish.Bookie.Storage;

/// <summary>
/// One entry log file <c>&lt;hex id&gt;.log</c>: records <c>[length u32][crc32c u32][ledgerId i64][entryId i64][data]</c>
/// (big-endian, <c>length</c> = bytes after the crc field, crc over those bytes), entries of all ledgers
/// interleaved. Only the current log is appended to (by the single flushing thread, through a pooled write buffer);
/// reads are positional and thread-safe. Reads verify the crc and never return bad bytes.
/// Lifetime is reference counted so a file is closed and deleted only after its last reader is done.
/// </summary>
internal sealed class EntryLog
{
    /// <summary>Bytes of a record before its data.</summary>
    public const int HeaderBytes = 4 + 4 + 8 + 8;

    private const string Extension = ".log";
    private const int WriteBufferBytes = 1 << 20;

    private readonly SafeFileHandle _handle;
    // The current log with direct writes: appends go through this O_DIRECT handle, reads through _handle.
    private SafeFileHandle? _directHandle;
    private DirectAppender? _direct;
    private readonly object _refLock = new();
    private byte[]? _writeBuffer;
    private int _buffered;
    private long _fileLength;
    private int _refs = 1;
    private bool _deleteWhenReleased;

    private EntryLog(long id, string path, SafeFileHandle handle, long length, bool writable)
    {
        Id = id;
        FilePath = path;
        _handle = handle;
        _fileLength = length;
        if (writable)
        {
            _writeBuffer = ArrayPool<byte>.Shared.Rent(WriteBufferBytes);
        }
    }

    public long Id { get; }

    public string FilePath { get; }

    /// <summary>Bytes appended so far, including those still in the write buffer.</summary>
    public long Length => _fileLength + _buffered;

    /// <summary>
    /// Creates the log appends go to. With <paramref name="directWrites"/> the appends use O_DIRECT where the file
    /// system allows it (<see cref="DirectAppender"/>) and reads a second, buffered handle.
    /// </summary>
    public static EntryLog Create(string dir, long id, bool directWrites = false)
    {
        string path = PathOf(dir, id);
        SafeFileHandle handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read);
        FileSystemSync.SyncDirectory(dir);
        var log = new EntryLog(id, path, handle, 0, writable: true);
        if (directWrites && FileSync.TryOpenDirect(path, out SafeFileHandle? direct))
        {
            log._directHandle = direct;
            log._direct = new DirectAppender(WriteBufferBytes);
        }
        return log;
    }

    /// <summary>Whether appends bypass the page cache (test hook).</summary>
    internal bool DirectWrites => _direct is not null;

    public static EntryLog OpenForRead(string dir, long id)
    {
        string path = PathOf(dir, id);
        SafeFileHandle handle = File.OpenHandle(path, FileMode.Open, FileAccess.Read, FileShare.ReadWrite | FileShare.Delete);
        return new EntryLog(id, path, handle, RandomAccess.GetLength(handle), writable: false);
    }

    /// <summary>Appends a record and returns its location. Single writer only.</summary>
    public EntryLocation Append(long ledgerId, long entryId, ReadOnlySpan<byte> data)
    {
        Debug.Assert(_writeBuffer is not null, "append to a sealed entry log");
        int recordBytes = HeaderBytes + data.Length;
        long offset = Length;
        if (_buffered + recordBytes > _writeBuffer.Length)
        {
            WriteOut();
        }
        if (recordBytes > _writeBuffer.Length)
        {
            byte[] big = ArrayPool<byte>.Shared.Rent(recordBytes);
            try
            {
                Encode(big, ledgerId, entryId, data);
                Write(big.AsSpan(0, recordBytes));
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(big);
            }
        }
        else
        {
            Encode(_writeBuffer.AsSpan(_buffered), ledgerId, entryId, data);
            _buffered += recordBytes;
        }
        return new EntryLocation(Id, offset, recordBytes);
    }

    /// <summary>Writes out the buffer and fdatasyncs: every location returned so far is durable afterwards.</summary>
    public void Sync()
    {
        WriteOut();
        FileSystemSync.SyncFile(_directHandle ?? _handle);
    }

    /// <summary>Syncs and stops accepting appends (the log was rolled); direct writes' page padding is cut off.</summary>
    public void Seal()
    {
        WriteOut();
        if (_directHandle is not null)
        {
            RandomAccess.SetLength(_directHandle, _fileLength);
        }
        Sync();
        if (_writeBuffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_writeBuffer);
            _writeBuffer = null;
        }
        CloseDirect();
    }

    private void WriteOut()
    {
        if (_buffered == 0 || _writeBuffer is null)
        {
            return;
        }
        Write(_writeBuffer.AsSpan(0, _buffered));
        _buffered = 0;
    }

    private void Write(ReadOnlySpan<byte> bytes)
    {
        if (_direct is not null)
        {
            _direct.Append(_directHandle!, bytes, _fileLength);
        }
        else
        {
            RandomAccess.Write(_handle, bytes, _fileLength);
        }
        _fileLength += bytes.Length;
    }

    private void CloseDirect()
    {
        _directHandle?.Dispose();
        _directHandle = null;
        _direct = null;
    }

    private static void Encode(Span<byte> dest, long ledgerId, long entryId, ReadOnlySpan<byte> data)
    {
        BinaryPrimitives.WriteUInt32BigEndian(dest, (uint)(16 + data.Length));
        BinaryPrimitives.WriteInt64BigEndian(dest[8..], ledgerId);
        BinaryPrimitives.WriteInt64BigEndian(dest[16..], entryId);
        data.CopyTo(dest[HeaderBytes..]);
        BinaryPrimitives.WriteUInt32BigEndian(dest[4..], Crc32C.Compute(dest.Slice(8, 16 + data.Length)));
    }

    /// <summary>Fills <paramref name="dest"/> from <paramref name="offset"/> (bytes already written out only).</summary>
    public void ReadExactly(long offset, Span<byte> dest)
    {
        int read = 0;
        while (read < dest.Length)
        {
            int n = RandomAccess.Read(_handle, dest[read..], offset + read);
            if (n == 0)
            {
                throw new CorruptDataException($"entry log {Id:x}: unexpected end of file at {offset + read}");
            }
            read += n;
        }
    }

    /// <summary>Reads and verifies the entry at <paramref name="location"/>; returns a fresh array with its data.</summary>
    public byte[] ReadEntry(EntryLocation location, long ledgerId, long entryId)
    {
        byte[] record = ArrayPool<byte>.Shared.Rent(location.RecordBytes);
        try
        {
            Span<byte> span = record.AsSpan(0, location.RecordBytes);
            ReadExactly(location.Offset, span);
            return Verify(span, location.Offset, ledgerId, entryId).ToArray();
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(record);
        }
    }

    /// <summary>Checks a whole record read from this log; returns its data or throws <see cref="CorruptDataException"/>.</summary>
    public ReadOnlySpan<byte> Verify(ReadOnlySpan<byte> record, long offset, long ledgerId, long entryId)
    {
        uint length = BinaryPrimitives.ReadUInt32BigEndian(record);
        uint crc = BinaryPrimitives.ReadUInt32BigEndian(record[4..]);
        if (length != record.Length - 8)
        {
            throw new CorruptDataException($"entry log {Id:x} offset {offset}: record length {length} does not match the index ({record.Length - 8})");
        }
        if (Crc32C.Compute(record[8..]) != crc)
        {
            throw new CorruptDataException($"entry log {Id:x} offset {offset}: checksum mismatch for entry {ledgerId}:{entryId}");
        }
        long storedLedger = BinaryPrimitives.ReadInt64BigEndian(record[8..]);
        long storedEntry = BinaryPrimitives.ReadInt64BigEndian(record[16..]);
        if (storedLedger != ledgerId || storedEntry != entryId)
        {
            throw new CorruptDataException($"entry log {Id:x} offset {offset}: holds {storedLedger}:{storedEntry}, index says {ledgerId}:{entryId}");
        }
        return record[HeaderBytes..];
    }

    /// <summary>Takes a reference; false when the log is already being deleted.</summary>
    public bool TryAcquire()
    {
        lock (_refLock)
        {
            if (_refs == 0 || _deleteWhenReleased)
            {
                return false;
            }
            _refs++;
            return true;
        }
    }

    public void Release()
    {
        bool close;
        lock (_refLock)
        {
            Debug.Assert(_refs > 0, "entry log released more often than acquired");
            close = --_refs == 0;
        }
        if (close)
        {
            CloseAndMaybeDelete();
        }
    }

    /// <summary>Drops the owner's reference; the file is deleted once the last reader releases it.</summary>
    public void MarkDeletedAndRelease()
    {
        lock (_refLock)
        {
            _deleteWhenReleased = true;
        }
        Release();
    }

    private void CloseAndMaybeDelete()
    {
        if (_writeBuffer is not null)
        {
            ArrayPool<byte>.Shared.Return(_writeBuffer);
            _writeBuffer = null;
        }
        if (_directHandle is not null && !_deleteWhenReleased)
        {
            // A clean close of the current log: cut the page padding of the last direct write off.
            RandomAccess.SetLength(_directHandle, _fileLength);
        }
        CloseDirect();
        _handle.Dispose();
        if (_deleteWhenReleased)
        {
            File.Delete(FilePath);
        }
    }

    /// <summary>Test hook for crash simulation: closes the handle, dropping whatever is still buffered.</summary>
    public void Abandon()
    {
        _buffered = 0;
        CloseDirect();
        _handle.Dispose();
    }

    internal static string PathOf(string dir, long id) => Path.Combine(dir, id.ToString("x", CultureInfo.InvariantCulture) + Extension);

    internal static long[] ListFileIds(string dir)
    {
        var ids = new List<long>();
        foreach (string path in Directory.EnumerateFiles(dir, "*" + Extension))
        {
            if (long.TryParse(Path.GetFileNameWithoutExtension(path), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out long id))
            {
                ids.Add(id);
            }
        }
        ids.Sort();
        return ids.ToArray();
    }
}
