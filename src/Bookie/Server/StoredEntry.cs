using System.Buffers.Binary;
using System.Diagnostics;

namespace Pulsarish.Bookie.Server;

/// <summary>
/// The bytes a bookie hands to storage for one entry: <c>[lac i64 BE][digest u32 BE][payload]</c>. Storage treats
/// them as opaque; reads decode them back into the LAC and digest the writer sent, so a reader can verify the
/// digest over (ledgerId, entryId, lac, payload) end to end (DESIGN.md §5).
/// </summary>
public readonly ref struct StoredEntry
{
    /// <summary>Bytes before the payload: the LAC (8) and the digest (4).</summary>
    public const int HeaderBytes = sizeof(long) + sizeof(uint);

    private StoredEntry(long lac, uint digest, ReadOnlySpan<byte> payload)
    {
        Lac = lac;
        Digest = digest;
        Payload = payload;
    }

    /// <summary>Last add confirmed piggy-backed by the writer with this entry.</summary>
    public long Lac { get; }

    /// <summary>The writer's CRC32C digest over (ledgerId, entryId, lac, payload).</summary>
    public uint Digest { get; }

    /// <summary>The entry payload, a slice of the decoded buffer.</summary>
    public ReadOnlySpan<byte> Payload { get; }

    /// <summary>Encoded size of an entry with a payload of <paramref name="payloadBytes"/> bytes.</summary>
    public static int EncodedLength(int payloadBytes) => HeaderBytes + payloadBytes;

    /// <summary>Encodes into <paramref name="destination"/>, which must hold <see cref="EncodedLength"/> bytes.</summary>
    public static int Encode(long lac, uint digest, ReadOnlySpan<byte> payload, Span<byte> destination)
    {
        Debug.Assert(destination.Length >= HeaderBytes + payload.Length, "destination too small for the stored entry");
        BinaryPrimitives.WriteInt64BigEndian(destination, lac);
        BinaryPrimitives.WriteUInt32BigEndian(destination[sizeof(long)..], digest);
        payload.CopyTo(destination[HeaderBytes..]);
        return HeaderBytes + payload.Length;
    }

    /// <summary>
    /// Decodes bytes read back from storage. Returns false when they are too short to be a stored entry, which
    /// means storage handed back something this server never wrote.
    /// </summary>
    public static bool TryDecode(ReadOnlySpan<byte> stored, out StoredEntry entry)
    {
        if (stored.Length < HeaderBytes)
        {
            entry = default;
            return false;
        }

        entry = new StoredEntry(
            BinaryPrimitives.ReadInt64BigEndian(stored),
            BinaryPrimitives.ReadUInt32BigEndian(stored[sizeof(long)..]),
            stored[HeaderBytes..]);
        return true;
    }
}
