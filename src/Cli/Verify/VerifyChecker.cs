using System.Globalization;
using System.Text;
using Pulsarish.Client;

namespace Pulsarish.Cli.Verify;

/// <summary>One message read back from the topic, in read order.</summary>
public readonly record struct ObservedMessage(ReadOnlyMemory<byte> Payload, MessageId Id);

/// <summary>
/// The checker of <c>verify check</c>, pure and in memory: compares what was read from the topic (in order) with
/// the ack log. Loss = acknowledged but absent; reordering = per producer, a message read after one with a higher
/// sequence number (first copies only), or acknowledged ids that do not grow with the sequence number; duplicates =
/// extra copies; phantoms = present but never sent. Sends that failed or timed out are never assumed lost or stored:
/// finding them is counted as "unacknowledged-present", missing them is fine.
/// </summary>
public static class VerifyChecker
{
    /// <summary>Parses a payload <c>producer:seq</c>, optionally followed by a space and padding.</summary>
    public static bool TryParsePayload(ReadOnlySpan<byte> payload, out string producer, out long seq)
    {
        producer = "";
        seq = -1;
        int end = payload.IndexOf((byte)' ');
        var head = end < 0 ? payload : payload[..end];
        int colon = head.LastIndexOf((byte)':');
        if (colon <= 0 || colon == head.Length - 1 || head.Length > 512) return false;
        if (!long.TryParse(Encoding.UTF8.GetString(head[(colon + 1)..]), NumberStyles.None, CultureInfo.InvariantCulture, out seq)) return false;
        producer = Encoding.UTF8.GetString(head[..colon]);
        return true;
    }

    /// <summary>Builds the payload of (producer, seq), padded with spaces and filler to at least <paramref name="minBytes"/>.</summary>
    public static byte[] Payload(string producer, long seq, int minBytes = 0)
    {
        string head = string.Create(CultureInfo.InvariantCulture, $"{producer}:{seq}");
        int headBytes = Encoding.UTF8.GetByteCount(head);
        var payload = new byte[Math.Max(headBytes, minBytes)];
        Encoding.UTF8.GetBytes(head, payload);
        if (payload.Length > headBytes)
        {
            payload[headBytes] = (byte)' ';
            for (int i = headBytes + 1; i < payload.Length; i++) payload[i] = (byte)('a' + (i % 26));
        }
        return payload;
    }

    /// <param name="log">What the producers sent and had acknowledged.</param>
    /// <param name="observed">What a reader found on the topic, in read order.</param>
    /// <param name="deduplication">Whether the broker de-duplicated; null: as the log says.</param>
    public static CheckReport Check(AckLog log, IReadOnlyList<ObservedMessage> observed, bool? deduplication = null)
    {
        var report = new CheckReport { Deduplication = deduplication ?? log.Deduplication, Acked = log.AckedCount, Read = observed.Count };
        var seen = new Dictionary<string, Dictionary<long, int>>(StringComparer.Ordinal);
        var highest = new Dictionary<string, long>(StringComparer.Ordinal);
        foreach (var message in observed)
        {
            if (!TryParsePayload(message.Payload.Span, out string producer, out long seq))
            {
                report.Phantoms++;
                report.Example($"phantom: unreadable payload at {message.Id}");
                continue;
            }
            if (log.Prefix.Length > 0 && !producer.StartsWith(log.Prefix, StringComparison.Ordinal))
            {
                report.Foreign++;
                continue;
            }
            long? attempted = log.AttemptedBy(producer);
            if (attempted is null || seq >= attempted)
            {
                report.Phantoms++;
                report.Example($"phantom: {producer}:{seq} at {message.Id} was never sent");
                continue;
            }
            if (!seen.TryGetValue(producer, out var copies)) seen[producer] = copies = new Dictionary<long, int>();
            copies.TryGetValue(seq, out int count);
            copies[seq] = count + 1;
            if (count > 0)
            {
                report.Duplicates++;
                if (report.Deduplication == true) report.Example($"duplicate: {producer}:{seq} again at {message.Id}");
                continue;
            }
            if (highest.TryGetValue(producer, out long top) && seq < top)
            {
                report.Reordered++;
                report.Example($"reordered: {producer}:{seq} read at {message.Id} after {producer}:{top}");
            }
            else
            {
                highest[producer] = seq;
            }
            if (!log.Acked.TryGetValue(producer, out var acks) || !acks.ContainsKey(seq)) report.UnacknowledgedPresent++;
        }

        foreach (var (producer, acks) in log.Acked)
        {
            seen.TryGetValue(producer, out var copies);
            var previous = (Seq: -1L, Id: default(MessageId));
            foreach (long seq in acks.Keys.Order())
            {
                if (copies is null || !copies.ContainsKey(seq))
                {
                    report.Lost++;
                    report.Example($"lost: {producer}:{seq} acknowledged as {acks[seq]}");
                }
                var id = acks[seq];
                if (id.LedgerId < 0) continue; // acknowledged as a duplicate of an earlier send: no id of its own
                if (previous.Seq >= 0 && Compare(id, previous.Id) <= 0)
                {
                    report.Reordered++;
                    report.Example($"reordered: {producer}:{seq} acknowledged as {id}, not after {producer}:{previous.Seq} at {previous.Id}");
                }
                previous = (seq, id);
            }
        }
        report.Verdict = report.HasViolations ? CheckVerdict.Fail : CheckVerdict.Pass;
        return report;
    }

    /// <summary>Order of two ids of one topic: ledger, entry, batch index.</summary>
    private static int Compare(MessageId a, MessageId b)
    {
        int c = a.LedgerId.CompareTo(b.LedgerId);
        if (c != 0) return c;
        c = a.EntryId.CompareTo(b.EntryId);
        return c != 0 ? c : a.BatchIndex.CompareTo(b.BatchIndex);
    }
}
