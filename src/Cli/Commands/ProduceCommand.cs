using System.CommandLine;
using System.Diagnostics;
using System.Text;
using Pulsarish.Client;

namespace Pulsarish.Cli;

/// <summary>
/// <c>pulsarish produce TOPIC -m msg [-m msg…] | -f file [-n N]</c>: publishes the messages (or the file's
/// content as one message) N times, waits for every receipt, prints each message id, then a summary.
/// <c>--rate</c> paces the sends, <c>--properties k=v</c> and <c>--key</c> go on every message, <c>--chunking</c>
/// splits messages above the max message size, <c>--access-mode</c> picks the producer access mode.
/// </summary>
public static class ProduceCommand
{
    public static Command Create()
    {
        var topic = new Argument<string>("topic") { Description = "Topic, e.g. my-topic or persistent://public/default/my-topic" };
        var messages = new Option<string[]>("--messages", "-m")
        {
            Description = "Message text (repeatable)", AllowMultipleArgumentsPerToken = false,
        };
        var file = new Option<string?>("--file", "-f") { Description = "Send this file's bytes as one message" };
        var times = new Option<int>("--num-produce", "-n")
        {
            Description = "Times to send the whole set of messages, as pulsar-client produce: -n 10 -m a -m b sends 20 (a, b, a, b, …)",
            DefaultValueFactory = _ => 1,
        };
        var key = new Option<string?>("--key", "-k") { Description = "Message key" };
        var url = ClientConnection.ServiceUrlOption();
        var legacyUrl = ClientConnection.LegacyUrlOption();
        var quiet = new Option<bool>("--quiet", "-q") { Description = "Print only the summary" };
        // Producer access modes, send timeout, chunking (README "Producers: send timeout, access modes and chunking").
        var rate = new Option<double>("--rate", "-r") { Description = "Messages per second at most (0: as fast as possible)" };
        var properties = new Option<string[]>("--properties", "-p")
        {
            Description = "Message property key=value (repeatable)", AllowMultipleArgumentsPerToken = false,
        };
        var chunking = new Option<bool>("--chunking", "-c") { Description = "Split messages above the max message size into chunks" };
        var accessMode = new Option<ProducerAccessMode>("--access-mode")
        {
            Description = "Shared, Exclusive, WaitForExclusive or ExclusiveWithFencing", DefaultValueFactory = _ => ProducerAccessMode.Shared,
        };

        var command = new Command("produce", "Publish messages to a topic") { topic, messages, file, times, key, url, legacyUrl, quiet };
        command.Options.Add(rate);
        command.Options.Add(properties);
        command.Options.Add(chunking);
        command.Options.Add(accessMode);
        command.SetAction(async (parse, ct) =>
        {
            var texts = parse.GetValue(messages) ?? [];
            string? path = parse.GetValue(file);
            int n = parse.GetValue(times);
            if ((texts.Length == 0) == (path is null) || n < 1)
            {
                return CliErrors.BadArguments("give either -m MESSAGE (repeatable) or -f FILE, and -n ≥ 1");
            }

            double perSecond = parse.GetValue(rate);
            if (perSecond < 0 || double.IsNaN(perSecond) || double.IsInfinity(perSecond))
            {
                return CliErrors.BadArguments("--rate must be ≥ 0 messages per second");
            }

            var messageProperties = new Dictionary<string, string>(StringComparer.Ordinal);
            foreach (string pair in parse.GetValue(properties) ?? [])
            {
                int eq = pair.IndexOf('=');
                if (eq <= 0)
                {
                    return CliErrors.BadArguments($"--properties takes key=value, got '{pair}'");
                }

                messageProperties[pair[..eq]] = pair[(eq + 1)..];
            }

            string serviceUrl = ClientConnection.Resolve(parse, url, legacyUrl);
            await using var client = new PulsarishClient(serviceUrl);
            try
            {
                var payloads = path is not null
                    ? [await File.ReadAllBytesAsync(path, ct)]
                    : texts.Select(t => Encoding.UTF8.GetBytes(t)).ToArray();
                await ClientConnection.EnsureReachableAsync(serviceUrl, ct);
                await using var producer = await client.CreateProducerAsync(
                    new ProducerOptions
                    {
                        Topic = parse.GetValue(topic)!,
                        EnableChunking = parse.GetValue(chunking),
                        AccessMode = parse.GetValue(accessMode),
                    }, ct);
                var sends = new List<Task<MessageId>>(payloads.Length * n);
                var props = messageProperties.Count > 0 ? messageProperties : null;
                long started = Stopwatch.GetTimestamp();
                for (int i = 0; i < n; i++)
                {
                    foreach (var payload in payloads)
                    {
                        if (perSecond > 0)
                        {
                            // Message k is due k/rate seconds after the start: a steady rate, no drift.
                            var wait = TimeSpan.FromSeconds(sends.Count / perSecond) - Stopwatch.GetElapsedTime(started);
                            if (wait > TimeSpan.Zero)
                            {
                                await Task.Delay(wait, ct);
                            }
                        }

                        sends.Add(producer.SendAsync(payload, parse.GetValue(key), props, ct));
                    }
                }

                bool quietOutput = parse.GetValue(quiet);
                foreach (var send in sends)
                {
                    var id = await send;
                    if (!quietOutput)
                    {
                        Console.Out.WriteLine(id);
                    }
                }

                Console.Out.WriteLine($"{sends.Count} messages successfully produced to {producer.Topic}");
                return 0;
            }
            catch (Exception e) when (CliErrors.TryPrint(e, out int exitCode))
            {
                return exitCode;
            }
        });
        return command;
    }
}
