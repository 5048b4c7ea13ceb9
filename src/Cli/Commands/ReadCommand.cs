using System.CommandLine;
using Pulsarish.Client;

namespace Pulsarish.Cli;

/// <summary>
/// <c>pulsarish read TOPIC [-m earliest|latest|L:E[:B[:P]]] [-i] [-n N] [--hex]</c>: reads N messages with a reader
/// (a non-durable subscription: nothing acknowledged, nothing left behind) and prints them (Pulsar's
/// <c>pulsar-client read</c>).
/// </summary>
public static class ReadCommand
{
    public static Command Create()
    {
        var topic = new Argument<string>("topic") { Description = "Topic" };
        var start = new Option<string>("--start-message-id", "-m")
        {
            Description = "earliest, latest or ledgerId:entryId[:batchIndex[:partition]]", DefaultValueFactory = _ => "latest",
        };
        var inclusive = new Option<bool>("--start-message-id-inclusive", "--inclusive", "-i")
        {
            Description = "Include the start message itself",
        };
        var count = new Option<int>("--num-messages", "-n") { Description = "Messages to read (0: forever)", DefaultValueFactory = _ => 1 };
        var hex = new Option<bool>("--hex") { Description = "Print payloads as hex" };
        var url = ClientConnection.ServiceUrlOption();
        var legacyUrl = ClientConnection.LegacyUrlOption();
        var timeout = new Option<int>("--timeout-seconds")
        {
            Description = "Give up after this long without a message (0: wait forever)", DefaultValueFactory = _ => 0,
        };

        var command = new Command("read", "Read messages from a position without a subscription (a reader)")
        {
            topic, start, inclusive, count, hex, url, legacyUrl, timeout,
        };
        command.SetAction(async (parse, ct) =>
        {
            if (!MessageId.TryParse(parse.GetValue(start), out var startId))
            {
                return CliErrors.BadArguments($"--start-message-id '{parse.GetValue(start)}' is not earliest, latest or ledgerId:entryId");
            }

            int wanted = parse.GetValue(count);
            if (wanted < 0)
            {
                return CliErrors.BadArguments("--num-messages must be 0 or more");
            }

            int idleSeconds = parse.GetValue(timeout);
            bool asHex = parse.GetValue(hex);
            string serviceUrl = ClientConnection.Resolve(parse, url, legacyUrl);
            await using var client = new PulsarishClient(serviceUrl);
            try
            {
                await ClientConnection.EnsureReachableAsync(serviceUrl, ct);
                await using var reader = await client.CreateReaderAsync(new ReaderOptions
                {
                    Topic = parse.GetValue(topic)!,
                    StartMessageId = startId,
                    StartMessageIdInclusive = parse.GetValue(inclusive),
                }, ct);
                int received = 0;
                while (wanted == 0 || received < wanted)
                {
                    using var idle = CancellationTokenSource.CreateLinkedTokenSource(ct);
                    if (idleSeconds > 0)
                    {
                        idle.CancelAfter(TimeSpan.FromSeconds(idleSeconds));
                    }

                    Message message;
                    try
                    {
                        message = await reader.ReadNextAsync(idle.Token);
                    }
                    catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                    {
                        Console.Error.WriteLine($"no message within {idleSeconds} s");
                        break;
                    }

                    MessagePrinter.Print(message, asHex, withTopic: false);
                    received++;
                }

                Console.Out.WriteLine($"{received} messages successfully read");
                return wanted == 0 || received == wanted ? 0 : 1;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
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
