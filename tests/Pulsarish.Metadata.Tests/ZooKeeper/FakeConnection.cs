using System.Buffers.Binary;
using System.Net.Sockets;

namespace Pulsarish.Metadata.Tests.ZooKeeper;

/// <summary>One accepted connection of <see cref="FakeZooKeeperServer"/>.</summary>
internal sealed class FakeConnection(NetworkStream stream)
{
    public NetworkStream Stream { get; } = stream;

    /// <summary>Reads one length-prefixed frame (bounded: the client never sends big frames in these tests).</summary>
    public async Task<byte[]> ReadFrameAsync(CancellationToken ct)
    {
        var header = new byte[4];
        await Stream.ReadExactlyAsync(header, ct);
        int length = BinaryPrimitives.ReadInt32BigEndian(header);
        if (length is < 0 or > 1 << 20) throw new IOException($"unexpected frame length {length}");
        var frame = new byte[length];
        await Stream.ReadExactlyAsync(frame, ct);
        return frame;
    }

    /// <summary>Reads the ConnectRequest and answers it; returns the session id the client presented.</summary>
    public async Task<long> HandshakeAsync(int timeoutMillis, long sessionId, CancellationToken ct)
    {
        var request = await ReadFrameAsync(ct);
        long presented = BinaryPrimitives.ReadInt64BigEndian(request.AsSpan(16));
        var reply = new byte[4 + 4 + 4 + 8 + 4 + 16 + 1];
        BinaryPrimitives.WriteInt32BigEndian(reply, reply.Length - 4);
        BinaryPrimitives.WriteInt32BigEndian(reply.AsSpan(4), 0);
        BinaryPrimitives.WriteInt32BigEndian(reply.AsSpan(8), timeoutMillis);
        BinaryPrimitives.WriteInt64BigEndian(reply.AsSpan(12), sessionId);
        BinaryPrimitives.WriteInt32BigEndian(reply.AsSpan(20), 16);
        await Stream.WriteAsync(reply, ct);
        return presented;
    }

    /// <summary>Reads a request frame; returns its xid and op code.</summary>
    public async Task<(int Xid, int OpCode)> ReadRequestAsync(CancellationToken ct)
    {
        while (true)
        {
            var frame = await ReadFrameAsync(ct);
            int xid = BinaryPrimitives.ReadInt32BigEndian(frame);
            int op = BinaryPrimitives.ReadInt32BigEndian(frame.AsSpan(4));
            if (xid == -2) continue;
            return (xid, op);
        }
    }

    public Task WriteAsync(byte[] bytes, CancellationToken ct) => Stream.WriteAsync(bytes, ct).AsTask();

    /// <summary>A frame: the given length prefix followed by <paramref name="payload"/> (which may disagree with it).</summary>
    public static byte[] Frame(int declaredLength, ReadOnlySpan<byte> payload)
    {
        var bytes = new byte[4 + payload.Length];
        BinaryPrimitives.WriteInt32BigEndian(bytes, declaredLength);
        payload.CopyTo(bytes.AsSpan(4));
        return bytes;
    }

    /// <summary>ReplyHeader(xid, zxid, err) followed by <paramref name="body"/>, correctly framed.</summary>
    public static byte[] Reply(int xid, long zxid, int err, ReadOnlySpan<byte> body)
    {
        var payload = new byte[16 + body.Length];
        BinaryPrimitives.WriteInt32BigEndian(payload, xid);
        BinaryPrimitives.WriteInt64BigEndian(payload.AsSpan(4), zxid);
        BinaryPrimitives.WriteInt32BigEndian(payload.AsSpan(12), err);
        body.CopyTo(payload.AsSpan(16));
        return Frame(payload.Length, payload);
    }
}
