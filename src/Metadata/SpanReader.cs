using System.Buffers.Binary;
using Pulsarish.Protocol.Errors;

namespace Pulsarish.Metadata;

/// <summary>Bounds-checked big-endian reader over a span; throws <see cref="CorruptDataException"/> past the end.</summary>
internal ref struct SpanReader(ReadOnlySpan<byte> buffer, int offset)
{
    private readonly ReadOnlySpan<byte> _buffer = buffer;

    public int Offset { get; private set; } = offset;

    public byte ReadByte() => Take(1)[0];

    public int ReadInt32() => BinaryPrimitives.ReadInt32BigEndian(Take(4));

    public long ReadInt64() => BinaryPrimitives.ReadInt64BigEndian(Take(8));

    public ReadOnlySpan<byte> ReadSized()
    {
        int length = ReadInt32();
        if (length < 0)
        {
            throw new CorruptDataException($"negative length {length} in metadata file");
        }
        return Take(length);
    }

    private ReadOnlySpan<byte> Take(int count)
    {
        if (count > _buffer.Length - Offset)
        {
            throw new CorruptDataException("metadata record truncated");
        }
        var slice = _buffer.Slice(Offset, count);
        Offset += count;
        return slice;
    }
}
