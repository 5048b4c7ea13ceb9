using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Server;

/// <summary>
/// Wire checks of chunk metadata (proto/broker.proto <c>ChunkInfo</c>): a chunk travels alone in its send (Pulsar
/// forbids chunking inside a batch), with a uuid, a chunk id below the chunk count, and a non-negative total size.
/// </summary>
internal static class ChunkChecks
{
    /// <summary>Why <paramref name="send"/> carries malformed chunk metadata, or null when it is fine.</summary>
    public static string? Validate(SendRequest send)
    {
        foreach (var message in send.Messages)
        {
            if (message.Chunk is not { } chunk)
            {
                continue;
            }

            if (send.Messages.Count != 1)
            {
                return "a chunk must be the only message of its send (chunking requires batching off)";
            }

            if (string.IsNullOrEmpty(chunk.Uuid) || chunk.NumChunks < 1 || chunk.ChunkId < 0
                || chunk.ChunkId >= chunk.NumChunks || chunk.TotalSize < 0)
            {
                return $"malformed chunk metadata: uuid '{chunk.Uuid}', chunk {chunk.ChunkId} of {chunk.NumChunks}, total {chunk.TotalSize} bytes";
            }
        }

        return null;
    }
}
