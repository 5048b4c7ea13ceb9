using System.Diagnostics;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Client;

/// <summary>
/// A batch sent (or about to be sent) and not yet receipted: its wire request, kept for resending after a
/// reconnect with the same sequence ids, and the completion of each of its messages. A chunk of a large message
/// that is not its last chunk has no completion of its own: <see cref="ChunkOwner"/> is the message's, failed with
/// any of its chunks and completed by the last one.
/// </summary>
internal sealed class PendingBatch(ProduceRequest request, TaskCompletionSource<MessageId>[] completions,
    TaskCompletionSource<MessageId>? chunkOwner = null)
{
    public ProduceRequest Request { get; } = request;

    public long FirstSequenceId => Request.Send.SequenceId;

    /// <summary>Application messages completed by this batch (0 for a chunk before the last).</summary>
    public int Count => Completions.Length;

    public TaskCompletionSource<MessageId>[] Completions { get; } = completions;

    /// <summary>The completion of the chunked message this batch is a chunk of (null for ordinary batches).</summary>
    public TaskCompletionSource<MessageId>? ChunkOwner { get; } = chunkOwner;

    /// <summary>When the batch was handed to the stream (<see cref="Stopwatch"/> ticks): the send timeout runs from here.</summary>
    public long CreatedTimestamp { get; } = Stopwatch.GetTimestamp();

    /// <summary>Completes every message with its id: batch index i of the n messages of the entry (as the broker dispatches them).</summary>
    public void Complete(MessageIdData? id, int partition)
    {
        int n = Completions.Length;
        for (int i = 0; i < n; i++)
        {
            var messageId = id is null
                ? new MessageId(-1, -1, -1, partition)
                : new MessageId(id.LedgerId, id.EntryId, i, partition, n);
            Completions[i].TrySetResult(messageId);
        }
    }

    public void Fail(Exception error)
    {
        foreach (var completion in Completions)
        {
            completion.TrySetException(error);
        }

        ChunkOwner?.TrySetException(error);
    }
}
