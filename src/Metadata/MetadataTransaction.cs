using System.Buffers.Binary;
using System.Text;
using Pulsarish.Protocol.Errors;

namespace Pulsarish.Metadata;

/// <summary>Kind of a logged tree mutation.</summary>
internal enum MetadataOpCode : byte
{
    Create = 1,
    SetData = 2,
    Delete = 3,
}

/// <summary>
/// One tree mutation with its resolved facts (final path, new version, time), so replay needs no decisions.
/// <see cref="EphemeralOwner"/> is the live session id (0 = persistent); only "is ephemeral" is persisted.
/// </summary>
internal readonly record struct MetadataOp(
    MetadataOpCode Code, string Path, byte[] Data, long EphemeralOwner, long Version, long TimeMillis)
{
    public static MetadataOp Create(string path, byte[] data, long ephemeralOwner, long timeMillis) =>
        new(MetadataOpCode.Create, path, data, ephemeralOwner, 0, timeMillis);

    public static MetadataOp SetData(string path, byte[] data, long newVersion, long timeMillis) =>
        new(MetadataOpCode.SetData, path, data, 0, newVersion, timeMillis);

    public static MetadataOp Delete(string path) => new(MetadataOpCode.Delete, path, [], 0, 0, 0);
}

/// <summary>
/// An atomic group of mutations with its transaction id (zxid). Serialized body (big-endian):
/// <c>[zxid:8][count:4] { [code:1][pathLen:4][path utf8][dataLen:4][data][ephemeral:1][version:8][timeMillis:8] }*</c>.
/// </summary>
internal sealed record MetadataTransaction(long Zxid, IReadOnlyList<MetadataOp> Ops)
{
    /// <summary>Owner id given to ephemerals read back from disk: their session died with the previous process.</summary>
    public const long DeadSessionOwner = -1;

    public int BodyLength
    {
        get
        {
            int length = 12;
            foreach (var op in Ops)
            {
                length += 1 + 4 + Encoding.UTF8.GetByteCount(op.Path) + 4 + op.Data.Length + 1 + 8 + 8;
            }
            return length;
        }
    }

    public void WriteBody(Span<byte> destination)
    {
        BinaryPrimitives.WriteInt64BigEndian(destination, Zxid);
        BinaryPrimitives.WriteInt32BigEndian(destination[8..], Ops.Count);
        int offset = 12;
        foreach (var op in Ops)
        {
            destination[offset++] = (byte)op.Code;
            int pathBytes = Encoding.UTF8.GetBytes(op.Path, destination[(offset + 4)..]);
            BinaryPrimitives.WriteInt32BigEndian(destination[offset..], pathBytes);
            offset += 4 + pathBytes;
            BinaryPrimitives.WriteInt32BigEndian(destination[offset..], op.Data.Length);
            offset += 4;
            op.Data.CopyTo(destination[offset..]);
            offset += op.Data.Length;
            destination[offset++] = op.EphemeralOwner != 0 ? (byte)1 : (byte)0;
            BinaryPrimitives.WriteInt64BigEndian(destination[offset..], op.Version);
            offset += 8;
            BinaryPrimitives.WriteInt64BigEndian(destination[offset..], op.TimeMillis);
            offset += 8;
        }
    }

    /// <summary>Parses a body whose CRC already matched; throws <see cref="CorruptDataException"/> on inconsistency.</summary>
    public static MetadataTransaction ReadBody(ReadOnlySpan<byte> body)
    {
        if (body.Length < 12)
        {
            throw new CorruptDataException("metadata log record shorter than its header");
        }
        long zxid = BinaryPrimitives.ReadInt64BigEndian(body);
        int count = BinaryPrimitives.ReadInt32BigEndian(body[8..]);
        if (count < 0 || count > body.Length)
        {
            throw new CorruptDataException($"metadata log record {zxid} has a bad op count {count}");
        }
        var ops = new List<MetadataOp>(count);
        var reader = new SpanReader(body, 12);
        for (int i = 0; i < count; i++)
        {
            var code = (MetadataOpCode)reader.ReadByte();
            if (code is not (MetadataOpCode.Create or MetadataOpCode.SetData or MetadataOpCode.Delete))
            {
                throw new CorruptDataException($"metadata log record {zxid} has an unknown op {(byte)code}");
            }
            string path = Encoding.UTF8.GetString(reader.ReadSized());
            byte[] data = reader.ReadSized().ToArray();
            long owner = reader.ReadByte() != 0 ? DeadSessionOwner : 0;
            long version = reader.ReadInt64();
            long time = reader.ReadInt64();
            ops.Add(new MetadataOp(code, path, data, owner, version, time));
        }
        if (reader.Offset != body.Length)
        {
            throw new CorruptDataException($"metadata log record {zxid} has {body.Length - reader.Offset} trailing bytes");
        }
        return new MetadataTransaction(zxid, ops);
    }
}
