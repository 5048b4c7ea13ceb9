using System.Buffers;
using System.Buffers.Binary;
using Pulsarish.Protocol.Errors;

namespace Pulsarish.Metadata.ZooKeeper;

/// <summary>
/// Splits a stream into length-prefixed frames (4-byte big-endian length, then the payload) using one pooled,
/// growable receive buffer. A length that is negative or above the maximum throws <see cref="ProtocolException"/>
/// before anything is allocated for it. Not thread-safe: one reader loop.
/// </summary>
internal sealed class FrameReader : IDisposable
{
    private const int InitialBufferBytes = 64 * 1024;
    private readonly Stream _stream;
    private readonly int _maxFrameBytes;
    private byte[] _buffer;
    private int _start;
    private int _end;
    private int _consumeOnNextRead;

    public FrameReader(Stream stream, int maxFrameBytes)
    {
        _stream = stream;
        _maxFrameBytes = maxFrameBytes;
        _buffer = ArrayPool<byte>.Shared.Rent(InitialBufferBytes);
    }

    /// <summary>The next frame's payload; valid until the next call.</summary>
    public async ValueTask<ReadOnlyMemory<byte>> ReadFrameAsync(CancellationToken ct)
    {
        _start += _consumeOnNextRead;
        _consumeOnNextRead = 0;
        while (true)
        {
            int available = _end - _start;
            int needed = 4;
            if (available >= 4)
            {
                int length = BinaryPrimitives.ReadInt32BigEndian(_buffer.AsSpan(_start));
                if (length < 0) throw new ProtocolException($"negative frame length {length}");
                if (length > _maxFrameBytes)
                    throw new ProtocolException($"frame length {length} exceeds the maximum of {_maxFrameBytes} bytes");
                if (available >= 4 + length)
                {
                    _consumeOnNextRead = 4 + length;
                    return _buffer.AsMemory(_start + 4, length);
                }
                needed = 4 + length;
            }
            MakeRoom(needed);
            int read = await _stream.ReadAsync(_buffer.AsMemory(_end), ct).ConfigureAwait(false);
            if (read == 0) throw new EndOfStreamException("server closed the connection");
            _end += read;
        }
    }

    /// <summary>Ensures the buffer can hold <paramref name="frameBytes"/> from the current frame start.</summary>
    private void MakeRoom(int frameBytes)
    {
        int available = _end - _start;
        if (_buffer.Length - _start >= frameBytes && _end < _buffer.Length) return;
        if (_buffer.Length >= frameBytes)
        {
            _buffer.AsSpan(_start, available).CopyTo(_buffer);
        }
        else
        {
            var bigger = ArrayPool<byte>.Shared.Rent(frameBytes);
            _buffer.AsSpan(_start, available).CopyTo(bigger);
            ArrayPool<byte>.Shared.Return(_buffer);
            _buffer = bigger;
        }
        _start = 0;
        _end = available;
    }

    public void Dispose()
    {
        var buffer = Interlocked.Exchange(ref _buffer, []);
        if (buffer.Length > 0) ArrayPool<byte>.Shared.Return(buffer);
    }
}
