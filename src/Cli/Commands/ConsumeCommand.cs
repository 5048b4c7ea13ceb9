using System.CommandLine;
using System.Text;
using Pulsarish.Client;

namespace Pulsarish.Cli;

/// <summary>
/// <c>pulsarish consume TOPIC -s SUB [-t TYPE] [-n N] [--initial-position earliest]</c>: receives N messages
/// (0 = until Ctrl-C), prints each one (id, key, payload as UTF-8) and acknowledges it.
/// </summary>
public static class ConsumeCommand
{
    public static Command Create()
    {
        var topic = new Argument<string>("topic") { Description = "Topic" };
        var subscription = new Option<string>("--subscription-name", "-s") { Description = "Subscription", Required = true };
        var type = new Option<string>("--subscription-type", "-t")
        {
            Description = "Exclusive, Shared, Failover or Key_Shared", DefaultValueFactory = _ => "Exclusive",
        };
        var count = new Option<int>("--num-messages", "-n") { Description = "Messages to receive (0: forever)", DefaultValueFactory = _ => 1 };
        var position = new Option<string>("--initial-position", "-p")
        {
            Description = "latest or earliest (for a new subscription)", DefaultValueFactory = _ => "latest",
        };
        var url = ClientConnection.ServiceUrlOption();
        var legacyUrl = ClientConnection.LegacyUrlOption();
        var timeout = new Option<int>("--timeout-seconds")
        {
            Description = "Give up after this long without a message (0: wait forever)", DefaultValueFactory = _ => 0,
        };

        var command = new Command("consume", "Receive and acknowledge messages") { topic, subscription, type, count, position, url, legacyUrl, timeout };
        command.SetAction(async (parse, ct) =>
        {
            if (!TryParseType(parse.GetValue(type)!, out var subscriptionType))
            {
                return CliErrors.BadArguments($"unknown subscription type '{parse.GetValue(type)}' (Exclusive, Shared, Failover, Key_Shared)");
            }

            string positionText = parse.GetValue(position)!;
            if (positionText is not ("latest" or "earliest"))
            {
                return CliErrors.BadArguments("--initial-position must be latest or earliest");
            }

            int wanted = parse.GetValue(count);
            int idleSeconds = parse.GetValue(timeout);
            string serviceUrl = ClientConnection.Resolve(parse, url, legacyUrl);
            await using var client = new PulsarishClient(serviceUrl);
            try
            {
                await ClientConnection.EnsureReachableAsync(serviceUrl, ct);
                await using var consumer = await client.SubscribeAsync(new ConsumerOptions
                {
                    Topic = parse.GetValue(topic)!,
                    SubscriptionName = parse.GetValue(subscription)!,
                    SubscriptionType = subscriptionType,
                    InitialPosition = positionText == "earliest"
                        ? SubscriptionInitialPosition.Earliest
                        : SubscriptionInitialPosition.Latest,
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
                        message = await consumer.ReceiveAsync(idle.Token);
                    }
                    catch (OperationCanceledException) when (!ct.IsCancellationRequested)
                    {
                        Console.Error.WriteLine($"no message within {idleSeconds} s");
                        break;
                    }
                    catch (PulsarishClientException e) when (e.ErrorReason == Protocol.Broker.ErrorReason.CorruptMessage)
                    {
                        // A compressed batch that does not decompress: the consumer discarded it; go on with the next.
                        CliErrors.Print(e.ErrorReason.ToString(), e.Message);
                        continue;
                    }

                    string key = message.Key is null ? "" : $" key={message.Key}";
                    Console.Out.WriteLine($"----- got message -----{Environment.NewLine}id={message.MessageId}{key} " +
                                          $"redelivery={message.RedeliveryCount}{Environment.NewLine}" +
                                          Encoding.UTF8.GetString(message.Payload.Span));
                    await consumer.AcknowledgeAsync(message.MessageId, ct);
                    received++;
                }

                Console.Out.WriteLine($"{received} messages successfully consumed");
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

    /// <summary>Accepts Pulsar's spellings (Key_Shared) and ours (KeyShared), any case.</summary>
    public static bool TryParseType(string text, out SubscriptionType type)
        => Enum.TryParse(text.Replace("_", "", StringComparison.Ordinal), ignoreCase: true, out type)
           && Enum.IsDefined(type);
}
