using System.Buffers;
using System.Buffers.Binary;
using System.Text;

namespace Pulsarish.Metadata.ZooKeeper;

/// <summary>
/// Big-endian jute encoder into a buffer rented from <see cref="ArrayPool{T}.Shared"/>. The first four bytes are
/// reserved for the frame length, filled by <see cref="Finish"/>. Ownership of the buffer passes to the caller of
/// <see cref="Finish"/>, who returns it to the pool.
/// </summary>
internal struct JuteWriter
{
    private byte[] _buffer;
    private int _position;

    public JuteWriter(int initialBytes)
    {
        _buffer = ArrayPool<byte>.Shared.Rent(Math.Max(initialBytes, 64));
        _position = 4;
    }

    public readonly int Length => _position;

    public void WriteInt(int value)
    {
        Ensure(4);
        BinaryPrimitives.WriteInt32BigEndian(_buffer.AsSpan(_position), value);
        _position += 4;
    }

    public void WriteLong(long value)
    {
        Ensure(8);
        BinaryPrimitives.WriteInt64BigEndian(_buffer.AsSpan(_position), value);
        _position += 8;
    }

    public void WriteBool(bool value)
    {
        Ensure(1);
        _buffer[_position++] = value ? (byte)1 : (byte)0;
    }

    /// <summary>jute ustring: int length (-1 for null) then UTF-8 bytes.</summary>
    public void WriteString(string? value)
    {
        if (value is null)
        {
            WriteInt(-1);
            return;
        }
        int max = Encoding.UTF8.GetMaxByteCount(value.Length);
        Ensure(4 + max);
        int written = Encoding.UTF8.GetBytes(value, _buffer.AsSpan(_position + 4));
        BinaryPrimitives.WriteInt32BigEndian(_buffer.AsSpan(_position), written);
        _position += 4 + written;
    }

    /// <summary>jute buffer: int length (-1 for null) then the bytes.</summary>
    public void WriteBuffer(ReadOnlySpan<byte> value)
    {
        Ensure(4 + value.Length);
        BinaryPrimitives.WriteInt32BigEndian(_buffer.AsSpan(_position), value.Length);
        value.CopyTo(_buffer.AsSpan(_position + 4));
        _position += 4 + value.Length;
    }

    public void WriteRaw(ReadOnlySpan<byte> value)
    {
        Ensure(value.Length);
        value.CopyTo(_buffer.AsSpan(_position));
        _position += value.Length;
    }

    /// <summary>vector&lt;ACL&gt; with the single entry world:anyone, all permissions (ZooDefs.Ids.OPEN_ACL_UNSAFE).</summary>
    public void WriteOpenAcl()
    {
        WriteInt(1);
        WriteInt(31);
        WriteString("world");
        WriteString("anyone");
    }

    /// <summary>Writes the frame length prefix and hands the buffer over; the struct must not be used afterwards.</summary>
    public (byte[] Buffer, int Length) Finish()
    {
        BinaryPrimitives.WriteInt32BigEndian(_buffer, _position - 4);
        var result = (_buffer, _position);
        _buffer = [];
        return result;
    }

    /// <summary>Returns the buffer to the pool without finishing (on an encoding failure).</summary>
    public void Abandon()
    {
        if (_buffer.Length > 0) ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = [];
    }

    private void Ensure(int bytes)
    {
        if (_position + bytes <= _buffer.Length) return;
        var bigger = ArrayPool<byte>.Shared.Rent(Math.Max(_buffer.Length * 2, _position + bytes));
        _buffer.AsSpan(0, _position).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(_buffer);
        _buffer = bigger;
    }
}
