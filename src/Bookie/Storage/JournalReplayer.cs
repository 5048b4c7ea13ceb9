using System.Buffers;
using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using Pulsarish.Common.Checksums;

namespace Pulsarish.Bookie.Storage;

/// <summary>Receives one journal record during replay; <paramref name="payload"/> is only valid during the call.</summary>
internal delegate void JournalReplayHandler(JournalRecordKind kind, long ledgerId, long entryId, ReadOnlySpan<byte> payload);

/// <summary>Reads the <see cref="Journal"/>'s files back at start-up (DESIGN.md §5: restart replays from the checkpoint).</summary>
internal static class JournalReplayer
{
    /// <summary>
    /// Replays every record from <paramref name="from"/> on, in order. A torn or CRC-failing record ends the replay
    /// of its file, which is truncated there (a warning, never fatal). Returns the number of records replayed.
    /// </summary>
    internal static long Replay(string dir, JournalPosition from, ILogger logger, JournalReplayHandler handler)
    {
        long records = 0;
        // Bounded by the largest entry any configuration allows, not the current one: lowering MaxEntryBytes must
        // not turn records written before into "corrupt" ones.
        const int maxBodyBytes = 8 + 8 + 1 + 8 + StorageOptions.MaxEntryBytesLimit;
        byte[] body = ArrayPool<byte>.Shared.Rent(64 * 1024);
        Span<byte> header = stackalloc byte[8];
        try
        {
            foreach (long id in Journal.ListFileIds(dir))
            {
                if (id < from.FileId)
                {
                    continue;
                }
                string path = Journal.PathOf(dir, id);
                using var stream = new FileStream(path, FileMode.Open, FileAccess.ReadWrite, FileShare.Read, 1 << 20);
                long position = id == from.FileId ? Math.Min(from.Offset, stream.Length) : 0;
                stream.Position = position;
                long fileLength = stream.Length;
                while (position < fileLength)
                {
                    string? problem = null;
                    if (fileLength - position < Journal.HeaderBytes)
                    {
                        problem = "torn record header";
                    }
                    else
                    {
                        stream.ReadExactly(header);
                        uint bodyBytes = BinaryPrimitives.ReadUInt32BigEndian(header);
                        uint crc = BinaryPrimitives.ReadUInt32BigEndian(header[4..]);
                        if (bodyBytes == 0 && crc == 0)
                        {
                            // Preallocated zeros: the end of what was written to this file.
                            stream.SetLength(position);
                            break;
                        }
                        if (bodyBytes < 17 || bodyBytes > maxBodyBytes)
                        {
                            problem = $"bad record length {bodyBytes}";
                        }
                        else if (fileLength - position - 8 < bodyBytes)
                        {
                            problem = "torn record";
                        }
                        else
                        {
                            if (body.Length < bodyBytes)
                            {
                                ArrayPool<byte>.Shared.Return(body);
                                body = ArrayPool<byte>.Shared.Rent((int)bodyBytes);
                            }
                            Span<byte> span = body.AsSpan(0, (int)bodyBytes);
                            stream.ReadExactly(span);
                            if (Crc32C.Compute(span) != crc)
                            {
                                problem = "checksum mismatch";
                            }
                            else
                            {
                                long ledgerId = BinaryPrimitives.ReadInt64BigEndian(span);
                                long entryId = BinaryPrimitives.ReadInt64BigEndian(span[8..]);
                                var kind = (JournalRecordKind)span[16];
                                handler(kind, ledgerId, entryId, span[17..]);
                                records++;
                                position += 8 + bodyBytes;
                            }
                        }
                    }
                    if (problem is not null)
                    {
                        logger.LogWarning("Journal file {JournalFileId:x}: {Problem} at offset {Offset}; truncating the tail of {TailBytes} bytes",
                            id, problem, position, fileLength - position);
                        stream.SetLength(position);
                        stream.Flush(flushToDisk: true);
                        break;
                    }
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(body);
        }
        return records;
    }
}
