using Pulsarish.Protocol.Broker;

namespace Pulsarish.Client;

/// <summary>
/// A batch sent (or about to be sent) and not yet receipted: its wire request, kept for resending after a
/// reconnect with the same sequence ids, and the completion of each of its messages.
/// </summary>
internal sealed class PendingBatch(ProduceRequest request, TaskCompletionSource<MessageId>[] completions)
{
    public ProduceRequest Request { get; } = request;

    public long FirstSequenceId => Request.Send.SequenceId;

    public int Count => Completions.Length;

    public TaskCompletionSource<MessageId>[] Completions { get; } = completions;

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
    }
}
