using System.Security.Cryptography;
using System.Text;

namespace Pulsarish.Client;

/// <summary>
/// Writes a message to a dead-letter topic exactly once, however often the move is retried (the original's ack lost
/// to a broker failure, the message redelivered to this or another consumer of the subscription): each original
/// message is written by its own producer name, derived from the subscription, the topic it was consumed from and its
/// message id, with the broker's de-duplication. The producer opens with the highest sequence id the broker persisted
/// for that name; 0 means an earlier attempt already wrote it, so nothing is written again. The caller acknowledges
/// the original only after this completed. Relies on de-duplication being on for the dead-letter topic (the broker
/// default) and on the name still being among the broker's most recent de-duplicated producers (10,000 per topic).
/// </summary>
internal static class DeadLetterWriter
{
    /// <summary>Writes <paramref name="message"/> to <paramref name="topic"/> unless already written; true when written now.</summary>
    public static async Task<bool> WriteOnceAsync(PulsarishClient client, string topic, string subscription, Message message,
        IReadOnlyDictionary<string, string> properties, CancellationToken ct)
    {
        await using var producer = await client.CreateProducerAsync(new ProducerOptions
        {
            Topic = topic,
            ProducerName = ProducerName(subscription, message),
            BatchingEnabled = false,
            MaxPendingMessages = 1,
        }, ct).ConfigureAwait(false);
        if (producer.LastSequenceId >= 0)
        {
            return false;
        }

        int? partition = null;
        if (producer.Partitions > 0)
        {
            // A retry must reach the partition that de-duplicates it.
            var id = message.MessageId;
            ulong stable = unchecked((ulong)id.LedgerId * 1_000_003UL + (ulong)id.EntryId * 31UL + (ulong)(id.BatchIndex + 1));
            partition = (int)(stable % (ulong)producer.Partitions);
        }

        await producer.SendAsync(new OutgoingMessage(message.Payload)
        {
            Key = message.Key,
            Properties = properties,
            EventTime = message.EventTime,
            Partition = partition,
        }, ct).ConfigureAwait(false);
        return true;
    }

    /// <summary>A name per original message: the same for every attempt to move it, from any consumer.</summary>
    internal static string ProducerName(string subscription, Message message)
    {
        Span<byte> hash = stackalloc byte[32];
        SHA256.HashData(Encoding.UTF8.GetBytes(message.Topic + "\n" + subscription), hash);
        var id = message.MessageId;
        return $"dlq-{Convert.ToHexStringLower(hash[..8])}-{id.LedgerId}-{id.EntryId}-{id.BatchIndex}-{id.Partition}";
    }

    /// <summary>The properties of the copy: the original's, plus where it came from (kept when already set by a retry).</summary>
    public static Dictionary<string, string> OriginProperties(Message message)
    {
        var properties = new Dictionary<string, string>(message.Properties);
        properties.TryAdd(RetryMessageProperties.RealTopic, message.Topic);
        properties.TryAdd(RetryMessageProperties.OriginMessageId, message.MessageId.ToString());
        return properties;
    }
}
