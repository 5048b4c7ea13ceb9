using System.Buffers.Binary;
using System.Text;
using Pulsarish.Protocol.Checksums;
using Pulsarish.Protocol.Errors;

namespace Pulsarish.Metadata;

/// <summary>
/// A full image of the embedded tree at a zxid. Layout (big-endian):
/// <c>[magic:4][format:4][zxid:8][count:4] { [pathLen:4][path][dataLen:4][data][version:8][childVersion:8]
/// [ephemeral:1][ctime:8][mtime:8] }* [crc32c of everything before:4]</c>, parents before children.
/// Written with <see cref="AtomicFile"/> (temporary file, fsync, rename over the previous snapshot, directory fsync),
/// so a reader sees either the old or the new snapshot, whole.
/// </summary>
internal static class MetadataSnapshotFile
{
    private const int Magic = 0x50534D53; // "PSMS"
    private const int FormatVersion = 1;

    /// <summary>A node as stored in a snapshot.</summary>
    public readonly record struct Entry(
        string Path, byte[] Data, long Version, long ChildVersion, bool Ephemeral, long CreatedMillis, long ModifiedMillis);

    public static void Write(string path, long zxid, IReadOnlyCollection<Entry> entries)
    {
        using (var buffer = new MemoryStream())
        {
            Span<byte> scratch = stackalloc byte[8];
            WriteInt32(buffer, Magic, scratch);
            WriteInt32(buffer, FormatVersion, scratch);
            WriteInt64(buffer, zxid, scratch);
            WriteInt32(buffer, entries.Count, scratch);
            foreach (var e in entries)
            {
                byte[] pathBytes = Encoding.UTF8.GetBytes(e.Path);
                WriteInt32(buffer, pathBytes.Length, scratch);
                buffer.Write(pathBytes);
                WriteInt32(buffer, e.Data.Length, scratch);
                buffer.Write(e.Data);
                WriteInt64(buffer, e.Version, scratch);
                WriteInt64(buffer, e.ChildVersion, scratch);
                buffer.WriteByte(e.Ephemeral ? (byte)1 : (byte)0);
                WriteInt64(buffer, e.CreatedMillis, scratch);
                WriteInt64(buffer, e.ModifiedMillis, scratch);
            }
            uint crc = Crc32C.Compute(buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
            BinaryPrimitives.WriteUInt32BigEndian(scratch, crc);
            buffer.Write(scratch[..4]);
            AtomicFile.Write(path, buffer.GetBuffer().AsSpan(0, (int)buffer.Length));
        }
    }

    /// <summary>Reads a snapshot; throws <see cref="CorruptDataException"/> when it fails its checksum or layout.</summary>
    public static (long Zxid, List<Entry> Entries) Read(string path)
    {
        byte[] bytes = File.ReadAllBytes(path);
        if (bytes.Length < 24)
        {
            throw new CorruptDataException($"metadata snapshot {path} is truncated");
        }
        uint stored = BinaryPrimitives.ReadUInt32BigEndian(bytes.AsSpan(bytes.Length - 4));
        if (Crc32C.Compute(bytes.AsSpan(0, bytes.Length - 4)) != stored)
        {
            throw new CorruptDataException($"metadata snapshot {path} fails its CRC32C");
        }
        var reader = new SpanReader(bytes.AsSpan(0, bytes.Length - 4), 0);
        if (reader.ReadInt32() != Magic || reader.ReadInt32() != FormatVersion)
        {
            throw new CorruptDataException($"metadata snapshot {path} has an unknown header");
        }
        long zxid = reader.ReadInt64();
        int count = reader.ReadInt32();
        if (count < 0 || count > bytes.Length)
        {
            throw new CorruptDataException($"metadata snapshot {path} has a bad node count {count}");
        }
        var entries = new List<Entry>(count);
        for (int i = 0; i < count; i++)
        {
            string nodePath = Encoding.UTF8.GetString(reader.ReadSized());
            byte[] data = reader.ReadSized().ToArray();
            long version = reader.ReadInt64();
            long childVersion = reader.ReadInt64();
            bool ephemeral = reader.ReadByte() != 0;
            long ctime = reader.ReadInt64();
            long mtime = reader.ReadInt64();
            entries.Add(new Entry(nodePath, data, version, childVersion, ephemeral, ctime, mtime));
        }
        return (zxid, entries);
    }

    private static void WriteInt32(Stream s, int value, Span<byte> scratch)
    {
        BinaryPrimitives.WriteInt32BigEndian(scratch, value);
        s.Write(scratch[..4]);
    }

    private static void WriteInt64(Stream s, long value, Span<byte> scratch)
    {
        BinaryPrimitives.WriteInt64BigEndian(scratch, value);
        s.Write(scratch[..8]);
    }
}
