using System.Buffers.Binary;
using System.Text;
using Pulsarish.Protocol.Errors;

namespace Pulsarish.Metadata.ZooKeeper;

/// <summary>
/// Big-endian jute decoder over one received frame. Every length is checked against what remains of the frame
/// (which is itself bounded by MaxPacketBytes), so a hostile length can never cause a large allocation; any
/// violation throws <see cref="ProtocolException"/>.
/// </summary>
internal ref struct JuteReader
{
    private readonly ReadOnlySpan<byte> _data;
    private int _position;

    public JuteReader(ReadOnlySpan<byte> data)
    {
        _data = data;
        _position = 0;
    }

    public readonly int Remaining => _data.Length - _position;

    public int ReadInt()
    {
        Need(4, "int");
        int value = BinaryPrimitives.ReadInt32BigEndian(_data.Slice(_position));
        _position += 4;
        return value;
    }

    public long ReadLong()
    {
        Need(8, "long");
        long value = BinaryPrimitives.ReadInt64BigEndian(_data.Slice(_position));
        _position += 8;
        return value;
    }

    public bool ReadBool()
    {
        Need(1, "bool");
        return _data[_position++] != 0;
    }

    public string? ReadString()
    {
        int length = ReadLength("string");
        if (length < 0) return null;
        try
        {
            var s = Encoding.UTF8.GetString(_data.Slice(_position, length));
            _position += length;
            return s;
        }
        catch (ArgumentException e)
        {
            throw new ProtocolException($"invalid UTF-8 string in reply: {e.Message}");
        }
    }

    public string ReadNonNullString(string what) =>
        ReadString() ?? throw new ProtocolException($"null {what} in reply");

    public byte[]? ReadBuffer()
    {
        int length = ReadLength("buffer");
        if (length < 0) return null;
        var bytes = _data.Slice(_position, length).ToArray();
        _position += length;
        return bytes;
    }

    public ZkStat ReadStat()
    {
        Need(ZkStat.WireBytes, "stat");
        return new ZkStat(
            Czxid: ReadLong(),
            Mzxid: ReadLong(),
            Ctime: ReadLong(),
            Mtime: ReadLong(),
            Version: ReadInt(),
            Cversion: ReadInt(),
            Aversion: ReadInt(),
            EphemeralOwner: ReadLong(),
            DataLength: ReadInt(),
            NumChildren: ReadInt(),
            Pzxid: ReadLong());
    }

    /// <summary>vector&lt;ustring&gt;; the count is bounded by the remaining bytes (each element needs 4).</summary>
    public List<string> ReadStringVector()
    {
        int count = ReadInt();
        if (count < 0) return [];
        if (count > Remaining / 4) throw new ProtocolException($"vector count {count} exceeds the reply ({Remaining} bytes left)");
        var list = new List<string>(count);
        for (int i = 0; i < count; i++) list.Add(ReadNonNullString("vector element"));
        return list;
    }

    private int ReadLength(string what)
    {
        int length = ReadInt();
        if (length < -1) throw new ProtocolException($"negative {what} length {length} in reply");
        if (length > Remaining) throw new ProtocolException($"{what} length {length} exceeds the reply ({Remaining} bytes left)");
        return length;
    }

    private readonly void Need(int bytes, string what)
    {
        if (Remaining < bytes) throw new ProtocolException($"reply truncated reading {what}: {Remaining} bytes left, {bytes} needed");
    }
}
