using System.Globalization;
using System.Text;
using Pulsarish.Client;

namespace Pulsarish.Cli.Verify;

/// <summary>
/// The file <c>verify produce</c> writes and <c>verify check</c> reads: one line per acknowledged send
/// (<c>ack PRODUCER SEQ MESSAGE-ID ACK-MS</c>), then one line per producer with how many sequence numbers it tried
/// (<c>sent PRODUCER COUNT</c>), under a header naming the topic, the producer-name prefix and whether the broker
/// de-duplicated. A producer without a <c>sent</c> line (the writer died) is treated as having tried every sequence
/// number up to its highest acknowledged one.
/// </summary>
public sealed class AckLog
{
    public const string Header = "# pulsarish verify ack log v1";

    public string Topic { get; set; } = "";

    /// <summary>Producer names of this log start with it; other producers' messages on the topic are foreign.</summary>
    public string Prefix { get; set; } = "";

    /// <summary>De-duplication in force while producing: true, false, or null (unknown).</summary>
    public bool? Deduplication { get; set; }

    /// <summary>Acknowledged sends: producer → sequence number → message id (LedgerId -1: acknowledged as a duplicate).</summary>
    public Dictionary<string, Dictionary<long, MessageId>> Acked { get; } = new(StringComparer.Ordinal);

    /// <summary>Producer → number of sequence numbers tried (0..count-1).</summary>
    public Dictionary<string, long> Attempted { get; } = new(StringComparer.Ordinal);

    public long AckedCount => Acked.Values.Sum(a => (long)a.Count);

    public void AddAck(string producer, long seq, MessageId id)
    {
        if (!Acked.TryGetValue(producer, out var acks)) Acked[producer] = acks = new Dictionary<long, MessageId>();
        acks[seq] = id;
    }

    /// <summary>Sequence numbers tried by <paramref name="producer"/>, or null for a producer this log does not know.</summary>
    public long? AttemptedBy(string producer)
    {
        if (Attempted.TryGetValue(producer, out long n)) return n;
        if (Acked.TryGetValue(producer, out var acks) && acks.Count > 0) return acks.Keys.Max() + 1;
        return null;
    }

    /// <summary>Reads a log; throws <see cref="FormatException"/> naming the line for anything else.</summary>
    public static AckLog Read(string path)
    {
        var log = new AckLog();
        int number = 0;
        bool sawHeader = false;
        foreach (string line in File.ReadLines(path))
        {
            number++;
            if (line.Length == 0) continue;
            var parts = line.Split(' ', StringSplitOptions.RemoveEmptyEntries);
            if (line.StartsWith(Header, StringComparison.Ordinal))
            {
                sawHeader = true;
                foreach (var part in parts)
                {
                    int eq = part.IndexOf('=');
                    if (eq < 0) continue;
                    string key = part[..eq], value = part[(eq + 1)..];
                    switch (key)
                    {
                        case "topic": log.Topic = value; break;
                        case "prefix": log.Prefix = value; break;
                        case "dedup": log.Deduplication = value == "on" ? true : value == "off" ? false : null; break;
                    }
                }
                continue;
            }
            if (line[0] == '#') continue;
            if (parts is ["ack", var producer, var seqText, var idText, ..]
                && long.TryParse(seqText, NumberStyles.None, CultureInfo.InvariantCulture, out long seq)
                && MessageId.TryParse(idText, out var id))
            {
                log.AddAck(producer, seq, id);
            }
            else if (parts is ["sent", var sender, var countText]
                     && long.TryParse(countText, NumberStyles.None, CultureInfo.InvariantCulture, out long count))
            {
                log.Attempted[sender] = count;
            }
            else
            {
                throw new FormatException($"{path}:{number}: not an ack log line: '{line}'");
            }
        }
        if (!sawHeader) throw new FormatException($"{path} is not a verify ack log (no '{Header}' line)");
        return log;
    }

    /// <summary>Appends the lines of a log as <c>verify produce</c> writes them. Thread-safe.</summary>
    public sealed class Writer : IDisposable
    {
        private readonly StreamWriter _writer;
        private readonly object _lock = new();

        public Writer(string path, string topic, string prefix, bool? deduplication)
        {
            string? dir = Path.GetDirectoryName(Path.GetFullPath(path));
            if (dir is not null) Directory.CreateDirectory(dir);
            _writer = new StreamWriter(path, append: false, new UTF8Encoding(false));
            string dedup = deduplication switch { true => "on", false => "off", null => "unknown" };
            _writer.WriteLine($"{Header} topic={topic} prefix={prefix} dedup={dedup}");
        }

        public void Ack(string producer, long seq, MessageId id, long ackMillis)
        {
            lock (_lock) _writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"ack {producer} {seq} {id} {ackMillis}"));
        }

        public void Sent(string producer, long count)
        {
            lock (_lock) _writer.WriteLine(string.Create(CultureInfo.InvariantCulture, $"sent {producer} {count}"));
        }

        public void Flush()
        {
            lock (_lock) _writer.Flush();
        }

        public void Dispose()
        {
            lock (_lock) _writer.Dispose();
        }
    }
}
