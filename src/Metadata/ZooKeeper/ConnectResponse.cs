using Pulsarish.Protocol.Errors;

namespace Pulsarish.Metadata.ZooKeeper;

/// <summary>The server's answer to the session handshake (jute ConnectResponse).</summary>
internal readonly record struct ConnectResponse(int ProtocolVersion, int TimeoutMillis, long SessionId, byte[] Password)
{
    /// <summary>Session passwords are 16 bytes; anything much larger is not a ZooKeeper server.</summary>
    private const int MaxPasswordBytes = 256;

    public static ConnectResponse Parse(ReadOnlySpan<byte> frame)
    {
        var r = new JuteReader(frame);
        int version = r.ReadInt();
        int timeout = r.ReadInt();
        long sessionId = r.ReadLong();
        var password = r.ReadBuffer() ?? [];
        if (password.Length > MaxPasswordBytes) throw new ProtocolException($"session password of {password.Length} bytes");
        // An optional trailing readOnly flag follows; this client never asks for read-only sessions.
        return new ConnectResponse(version, timeout, sessionId, password);
    }
}
