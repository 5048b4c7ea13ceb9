using Pulsarish.Protocol.Bookie;

namespace Pulsarish.Ledgers;

/// <summary>A bookie's answer to a read: the stored entry with the LAC and digest it was written with.</summary>
public readonly record struct BookieReadResult(StatusCode Status, long Lac, uint Digest, ReadOnlyMemory<byte> Payload)
{
    public static BookieReadResult Failed(StatusCode status) => new(status, -1, 0, ReadOnlyMemory<byte>.Empty);
}
