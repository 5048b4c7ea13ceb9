using System.Buffers;
using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;
using Pulsarish.Protocol.Checksums;
using Pulsarish.Protocol.Errors;

namespace Pulsarish.Bookie.Storage;

/// <summary>Receives one journal record during replay; <paramref name="payload"/> is only valid during the call.</summary>
internal delegate void JournalReplayHandler(JournalRecordKind kind, long ledgerId, long entryId, ReadOnlySpan<byte> payload);

/// <summary>
/// Reads the <see cref="Journal"/>'s files back at start-up (DESIGN.md §5: restart replays from the checkpoint) and
/// tells a torn tail from damage (DESIGN.md §9):
/// <list type="bullet">
/// <item>Zeros where a record should start end the written data (preallocation, or the page padding of direct
/// writes): the file is cut there. In a file before the last one only zeros may follow them; in the last one, as
/// after a bad record, no valid record beyond the reach of its last group.</item>
/// <item>A file before the last one was fully synced before the roll that followed it: a bad record there (bad
/// length, torn, checksum mismatch) is damage to acknowledged entries.</item>
/// <item>Only the last group written to the last file can be torn by a crash: a bad record there is cut off with a
/// warning, unless a valid record follows beyond the reach of that group (<see cref="FindRecordBeyondLastGroup"/>).</item>
/// <item>A record whose checksum holds but whose kind is unknown (or whose layout is impossible) is damage in any
/// file: no torn write explains it.</item>
/// </list>
/// Damage throws <see cref="CorruptDataException"/> naming the file and offset and leaves the file untouched, unless
/// <see cref="StorageOptions.AcceptJournalCorruption"/>: then the file is truncated at the damage, an error is logged,
/// the damage is listed in <see cref="AcceptedCorruption"/>, and replay goes on with the next file.
/// One instance per replay; not thread-safe.
/// </summary>
internal sealed class JournalReplayer
{
    /// <summary>Bytes of a record after its crc field when it has no payload: ledger id, entry id, kind.</summary>
    private const int MinBodyBytes = 8 + 8 + 1;

    // Bounded by the largest entry any configuration allows, not the current one: lowering MaxEntryBytes must
    // not turn records written before into "corrupt" ones.
    private const int MaxBodyBytes = MinBodyBytes + 8 + StorageOptions.MaxEntryBytesLimit;

    /// <summary>Bytes read at a time when looking past a bad record.</summary>
    private const int ScanWindowBytes = 1024 * 1024;

    private readonly StorageOptions _options;
    private readonly ILogger _logger;
    private readonly List<JournalCorruption> _accepted = new();
    private readonly long _maxGroupWriteBytes;
    private readonly int _maxScanBodyBytes;
    private byte[] _body = [];

    public JournalReplayer(StorageOptions options, ILogger logger)
    {
        _options = options;
        _logger = logger;
        _maxGroupWriteBytes = Journal.MaxGroupWriteBytes(options);
        // The look past a bad record only considers records today's settings can write: it keeps the checksum of
        // a false candidate cheap (a record beyond today's MaxEntryBytes goes unnoticed there).
        _maxScanBodyBytes = Journal.MaxRecordBytes(options) - 8;
    }

    /// <summary>Damage accepted under <see cref="StorageOptions.AcceptJournalCorruption"/>, in file order; empty normally.</summary>
    public IReadOnlyList<JournalCorruption> AcceptedCorruption => _accepted;

    /// <summary>
    /// Replays every record from <paramref name="from"/> on, in order, and returns how many were replayed. Throws
    /// <see cref="CorruptDataException"/> on damage (see the class summary), after replaying the records before it.
    /// </summary>
    public long Replay(JournalPosition from, JournalReplayHandler handler)
    {
        long[] ids = Journal.ListFileIds(_options.JournalDir);
        long records = 0;
        _body = ArrayPool<byte>.Shared.Rent(64 * 1024);
        try
        {
            for (int i = 0; i < ids.Length; i++)
            {
                if (ids[i] < from.FileId)
                {
                    continue;
                }
                records += ReplayFile(ids[i], ids[i] == from.FileId ? from.Offset : 0, last: i == ids.Length - 1, handler);
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(_body);
            _body = [];
        }
        return records;
    }

    private long ReplayFile(long id, long startOffset, bool last, JournalReplayHandler handler)
    {
        string path = Journal.PathOf(_options.JournalDir, id);
        using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read, 1 << 20);
        long fileLength = stream.Length;
        long position = Math.Min(startOffset, fileLength);
        stream.Position = position;
        long records = 0;
        Span<byte> header = stackalloc byte[8];
        while (position < fileLength)
        {
            long left = fileLength - position;
            Span<byte> start = header[..(int)Math.Min(header.Length, left)];
            stream.ReadExactly(start);
            if (!start.ContainsAnyExcept((byte)0))
            {
                EndAtZeros(stream, path, position, last);
                return records;
            }
            string problem;
            if (left < Journal.HeaderBytes)
            {
                problem = $"torn record header ({left} bytes left)";
            }
            else
            {
                uint bodyBytes = BinaryPrimitives.ReadUInt32BigEndian(header);
                uint crc = BinaryPrimitives.ReadUInt32BigEndian(header[4..]);
                if (bodyBytes < MinBodyBytes || bodyBytes > MaxBodyBytes)
                {
                    problem = $"bad record length {bodyBytes}";
                }
                else if (left - 8 < bodyBytes)
                {
                    problem = $"torn record of {bodyBytes} bytes with {left - 8} left";
                }
                else
                {
                    ReadOnlySpan<byte> body = ReadBody(stream, (int)bodyBytes);
                    if (Crc32C.Compute(body) != crc)
                    {
                        problem = "checksum mismatch";
                    }
                    else if (CheckLayout(body) is { } invalid)
                    {
                        Damage(stream, path, position, invalid);
                        return records;
                    }
                    else
                    {
                        handler((JournalRecordKind)body[16], BinaryPrimitives.ReadInt64BigEndian(body),
                            BinaryPrimitives.ReadInt64BigEndian(body[8..]), body[MinBodyBytes..]);
                        records++;
                        position += 8 + bodyBytes;
                        continue;
                    }
                }
            }
            EndAtBadRecord(stream, id, path, position, problem, last);
            return records;
        }
        return records;
    }

    /// <summary>Zeros where a record should start at <paramref name="offset"/>: the end of what was written to the file.</summary>
    private void EndAtZeros(FileStream stream, string path, long offset, bool last)
    {
        if (!last)
        {
            // A roll cuts the file to its data; zeros remain only when a crash came before the cut reached the disk,
            // and then nothing but zeros follows them.
            long data = FindNonZero(stream.SafeFileHandle, offset, stream.Length);
            if (data >= 0)
            {
                Damage(stream, path, offset, $"zeros where a record should start, yet data at offset {data}");
                return;
            }
        }
        else if (FindRecordBeyondLastGroup(stream, offset) is var later and >= 0)
        {
            Damage(stream, path, offset, $"zeros where a record should start, yet a valid record at offset {later}");
            return;
        }
        Truncate(stream, offset);
    }

    /// <summary>A bad record at <paramref name="offset"/>: a torn tail of the last file, or damage.</summary>
    private void EndAtBadRecord(FileStream stream, long id, string path, long offset, string problem, bool last)
    {
        if (!last)
        {
            // Synced before the roll that followed it: no crash tears this file.
            Damage(stream, path, offset, problem);
            return;
        }
        if (FindRecordBeyondLastGroup(stream, offset) is var later and >= 0)
        {
            Damage(stream, path, offset, $"{problem}, yet a valid record at offset {later}: not a torn tail");
            return;
        }
        _logger.LogWarning("Journal file {JournalFileId:x}: {Problem} at offset {Offset}; truncating the torn tail of {TailBytes} bytes",
            id, problem, offset, stream.Length - offset);
        Truncate(stream, offset);
    }

    /// <summary>
    /// Where a valid record starts in the last file beyond the reach of the group write that holds the bad bytes at
    /// <paramref name="offset"/>, or -1. A crash tears only the last group, and a group write ends less than
    /// <see cref="Journal.MaxGroupWriteBytes"/> past its start (at or before <paramref name="offset"/>). A valid record
    /// beyond that was written by a later group, which the journal starts only once this one is synced: the bad bytes
    /// are damage, not a torn tail. Valid records nearer than that prove nothing (a torn group write can land its later
    /// pages and not its earlier ones), so damage within the last group's reach of the last file's end passes for a
    /// torn tail and is cut off. The reach comes from today's settings: lowering MaxGroupBytes or MaxEntryBytes between
    /// a crash and the restart narrows it. Reads only the bytes past that reach, skipping zeros (the usual content).
    /// </summary>
    private long FindRecordBeyondLastGroup(FileStream stream, long offset)
    {
        long fileLength = stream.Length;
        long from = offset + _maxGroupWriteBytes;
        return from > fileLength - Journal.HeaderBytes ? -1 : ScanForRecord(stream.SafeFileHandle, from, fileLength);
    }

    /// <summary>The offset of the first valid record (plausible header, matching checksum, sound layout) at or after <paramref name="from"/>, or -1.</summary>
    private long ScanForRecord(SafeFileHandle handle, long from, long fileLength)
    {
        byte[] window = ArrayPool<byte>.Shared.Rent(ScanWindowBytes);
        try
        {
            long windowStart = from;
            int windowLength = 0;
            long at = from;
            while (at <= fileLength - Journal.HeaderBytes)
            {
                if (at + Journal.HeaderBytes > windowStart + windowLength)
                {
                    windowStart = at;
                    windowLength = ReadAt(handle, window.AsSpan(0, (int)Math.Min(window.Length, fileLength - at)), at);
                }
                ReadOnlySpan<byte> view = window.AsSpan((int)(at - windowStart), (int)(windowStart + windowLength - at));
                // A record's first non-zero byte is in its length field (at least 17, big-endian): skip zeros.
                int nonZero = view.IndexOfAnyExcept((byte)0);
                if (nonZero < 0)
                {
                    at = Math.Max(at + 1, windowStart + windowLength - 3);
                    continue;
                }
                if (nonZero > 3)
                {
                    at += nonZero - 3;
                    continue;
                }
                if (IsRecordAt(handle, view, at, fileLength))
                {
                    return at;
                }
                at++;
            }
            return -1;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(window);
        }
    }

    /// <summary>Whether a valid record starts at <paramref name="at"/>; <paramref name="view"/> holds at least its header.</summary>
    private bool IsRecordAt(SafeFileHandle handle, ReadOnlySpan<byte> view, long at, long fileLength)
    {
        uint bodyBytes = BinaryPrimitives.ReadUInt32BigEndian(view);
        if (bodyBytes < MinBodyBytes || bodyBytes > _maxScanBodyBytes || at + 8 + bodyBytes > fileLength)
        {
            return false;
        }
        // Cheap filters before the checksum: ids as storage writes them, a known kind.
        if (BinaryPrimitives.ReadInt64BigEndian(view[8..]) < 0 || BinaryPrimitives.ReadInt64BigEndian(view[16..]) < -1
            || !Enum.IsDefined((JournalRecordKind)view[24]))
        {
            return false;
        }
        ReadOnlySpan<byte> body;
        if (8 + bodyBytes <= view.Length)
        {
            body = view.Slice(8, (int)bodyBytes);
        }
        else
        {
            EnsureBody((int)bodyBytes);
            body = _body.AsSpan(0, ReadAt(handle, _body.AsSpan(0, (int)bodyBytes), at + 8));
        }
        return Crc32C.Compute(body) == BinaryPrimitives.ReadUInt32BigEndian(view[4..]) && CheckLayout(body) is null;
    }

    /// <summary>Why a record whose checksum holds cannot be replayed, or null when it can.</summary>
    private static string? CheckLayout(ReadOnlySpan<byte> body)
    {
        long ledgerId = BinaryPrimitives.ReadInt64BigEndian(body);
        long entryId = BinaryPrimitives.ReadInt64BigEndian(body[8..]);
        var kind = (JournalRecordKind)body[16];
        int payloadBytes = body.Length - MinBodyBytes;
        if (!Enum.IsDefined(kind))
        {
            return $"record of unknown kind {(byte)kind} for ledger {ledgerId} entry {entryId} (its checksum holds)";
        }
        if (kind == JournalRecordKind.Entry && payloadBytes <= 8)
        {
            // Storage never journals an empty entry: the payload is the LAC and at least one byte.
            return $"entry record for ledger {ledgerId} entry {entryId} with {payloadBytes} payload bytes (its checksum holds)";
        }
        return null;
    }

    /// <summary>Refuses damage at <paramref name="offset"/>, or accepts it when the operator said so (see the class summary).</summary>
    private void Damage(FileStream stream, string path, long offset, string problem)
    {
        if (!_options.AcceptJournalCorruption)
        {
            throw new CorruptDataException(
                $"journal file {path} is corrupt at offset {offset}: {problem}; acknowledged entries from there on are "
                + "damaged. To truncate the file there, accept their loss and serve read-only, set AcceptJournalCorruption "
                + "(pulsarish bookie --accept-journal-corruption)");
        }
        _logger.LogError(
            "Journal file {JournalFile} is corrupt at offset {Offset}: {Problem}; AcceptJournalCorruption: truncating the file there ({LostBytes} bytes lost), acknowledged entries may be missing, the bookie serves read-only",
            path, offset, problem, stream.Length - offset);
        Truncate(stream, offset);
        _accepted.Add(new JournalCorruption(path, offset, problem));
    }

    private static void Truncate(FileStream stream, long offset)
    {
        stream.SetLength(offset);
        // Durable before the next journal file exists: this one is not the last file any more then.
        stream.Flush(flushToDisk: true);
    }

    private ReadOnlySpan<byte> ReadBody(FileStream stream, int bodyBytes)
    {
        EnsureBody(bodyBytes);
        Span<byte> body = _body.AsSpan(0, bodyBytes);
        stream.ReadExactly(body);
        return body;
    }

    private void EnsureBody(int bytes)
    {
        if (_body.Length < bytes)
        {
            ArrayPool<byte>.Shared.Return(_body);
            _body = ArrayPool<byte>.Shared.Rent(bytes);
        }
    }

    /// <summary>The offset of the first non-zero byte in [<paramref name="from"/>, <paramref name="to"/>), or -1.</summary>
    private static long FindNonZero(SafeFileHandle handle, long from, long to)
    {
        byte[] buffer = ArrayPool<byte>.Shared.Rent(ScanWindowBytes);
        try
        {
            long at = from;
            while (at < to)
            {
                int read = ReadAt(handle, buffer.AsSpan(0, (int)Math.Min(buffer.Length, to - at)), at);
                if (read == 0)
                {
                    break;
                }
                int nonZero = buffer.AsSpan(0, read).IndexOfAnyExcept((byte)0);
                if (nonZero >= 0)
                {
                    return at + nonZero;
                }
                at += read;
            }
            return -1;
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    private static int ReadAt(SafeFileHandle handle, Span<byte> buffer, long offset)
    {
        int total = 0;
        while (total < buffer.Length)
        {
            int read = RandomAccess.Read(handle, buffer[total..], offset + total);
            if (read == 0)
            {
                break;
            }
            total += read;
        }
        return total;
    }
}
