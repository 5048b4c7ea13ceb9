using System.Buffers;
using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using Pulsarish.Protocol.Checksums;
using Pulsarish.Protocol.Errors;

namespace Pulsarish.Metadata;

/// <summary>
/// The embedded store's append-only operation log: records <c>[bodyLength:4][crc32c(body):4][body]</c> (big-endian),
/// body as <see cref="MetadataTransaction"/>. Each append is fsync'd when <c>forceSync</c> is on. On open, records are
/// replayed until the first short or CRC-failing record (a torn tail from a crash); the file is truncated there so
/// later appends never follow garbage. Not thread-safe: the
/// store's lock serializes callers.
/// </summary>
internal sealed class MetadataOperationLog : IDisposable
{
    private const int HeaderBytes = 8;

    /// <summary>Records larger than this are treated as garbage (far above any valid transaction).</summary>
    private const int MaxRecordBytes = 256 * 1024 * 1024;

    private readonly FileStream _file;
    private readonly bool _forceSync;

    private MetadataOperationLog(FileStream file, bool forceSync)
    {
        _file = file;
        _forceSync = forceSync;
    }

    /// <summary>Bytes in the log.</summary>
    public long Length => _file.Length;

    /// <summary>
    /// Opens (creating if needed) the log at <paramref name="path"/>, replays every intact transaction with a zxid above
    /// <paramref name="afterZxid"/> through <paramref name="apply"/>, truncates a torn tail and positions for appending.
    /// </summary>
    public static MetadataOperationLog Open(
        string path, long afterZxid, bool forceSync, Action<MetadataTransaction> apply, ILogger logger)
    {
        bool existed = File.Exists(path);
        var file = new FileStream(path, FileMode.OpenOrCreate, FileAccess.ReadWrite, FileShare.Read, 1, FileOptions.None);
        try
        {
            long validLength = Replay(file, afterZxid, apply);
            if (validLength < file.Length)
            {
                logger.LogWarning(
                    "Metadata log {Path}: ignoring torn tail of {TornBytes} bytes at offset {Offset}",
                    path, file.Length - validLength, validLength);
                file.SetLength(validLength);
                file.Flush(flushToDisk: true);
            }
            file.Seek(0, SeekOrigin.End);
            if (!existed)
            {
                file.Flush(flushToDisk: true);
                FileSystemSync.SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
            }
            return new MetadataOperationLog(file, forceSync);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    private static long Replay(FileStream file, long afterZxid, Action<MetadataTransaction> apply)
    {
        long length = file.Length;
        long offset = 0;
        Span<byte> header = stackalloc byte[HeaderBytes];
        file.Seek(0, SeekOrigin.Begin);
        while (length - offset >= HeaderBytes)
        {
            file.ReadExactly(header);
            int bodyLength = BinaryPrimitives.ReadInt32BigEndian(header);
            uint crc = BinaryPrimitives.ReadUInt32BigEndian(header[4..]);
            if (bodyLength < 12 || bodyLength > MaxRecordBytes || bodyLength > length - offset - HeaderBytes)
            {
                break;
            }
            byte[] body = ArrayPool<byte>.Shared.Rent(bodyLength);
            try
            {
                file.ReadExactly(body, 0, bodyLength);
                if (Crc32C.Compute(body.AsSpan(0, bodyLength)) != crc)
                {
                    break;
                }
                var tx = MetadataTransaction.ReadBody(body.AsSpan(0, bodyLength));
                if (tx.Zxid > afterZxid)
                {
                    apply(tx);
                }
            }
            finally
            {
                ArrayPool<byte>.Shared.Return(body);
            }
            offset += HeaderBytes + bodyLength;
        }
        return offset;
    }

    /// <summary>Appends one transaction and, with forceSync, fsyncs before returning.</summary>
    public void Append(MetadataTransaction tx)
    {
        int bodyLength = tx.BodyLength;
        int total = HeaderBytes + bodyLength;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(total);
        try
        {
            var body = buffer.AsSpan(HeaderBytes, bodyLength);
            tx.WriteBody(body);
            BinaryPrimitives.WriteInt32BigEndian(buffer, bodyLength);
            BinaryPrimitives.WriteUInt32BigEndian(buffer.AsSpan(4), Crc32C.Compute(body));
            _file.Write(buffer, 0, total);
            _file.Flush(flushToDisk: _forceSync);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    /// <summary>Empties the log after a snapshot made its content redundant.</summary>
    public void Reset()
    {
        _file.SetLength(0);
        _file.Seek(0, SeekOrigin.Begin);
        _file.Flush(flushToDisk: true);
    }

    public void Dispose() => _file.Dispose();
}
