using System.CommandLine;
using Pulsarish.Client;

namespace Pulsarish.Cli;

/// <summary>
/// <c>pulsarish consume TOPIC -s SUB [-t TYPE] [-n N] [--initial-position earliest] [--regex] [--hex]</c>: receives N
/// messages (0 = until Ctrl-C), prints each one (id, key, payload as UTF-8 or hex) and acknowledges it. With
/// <c>--regex</c> TOPIC is a pattern over one namespace's topics (a multi-topic consumer; each message names its
/// topic). Subscription types and positions take Pulsar's spellings in any case (Key_Shared, key_shared, KeyShared).
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
            Description = "Latest or Earliest, any case (for a new subscription)", DefaultValueFactory = _ => "latest",
        };
        var regex = new Option<bool>("--regex", "-r")
        {
            Description = "TOPIC is a regular expression over one namespace's topics, e.g. persistent://public/default/orders-.*",
        };
        var hex = new Option<bool>("--hex") { Description = "Print payloads as hex" };
        var url = ClientConnection.ServiceUrlOption();
        var legacyUrl = ClientConnection.LegacyUrlOption();
        var timeout = new Option<int>("--timeout-seconds")
        {
            Description = "Give up after this long without a message (0: wait forever)", DefaultValueFactory = _ => 0,
        };

        var command = new Command("consume", "Receive and acknowledge messages") 
        {
            topic, subscription, type, count, position, regex, hex, url, legacyUrl, timeout,
        };
        command.SetAction(async (parse, ct) =>
        {
            if (!TryParseType(parse.GetValue(type)!, out var subscriptionType))
            {
                return CliErrors.BadArguments($"unknown subscription type '{parse.GetValue(type)}' (Exclusive, Shared, Failover, Key_Shared)");
            }

            if (!TryParsePosition(parse.GetValue(position)!, out var initialPosition))
            {
                return CliErrors.BadArguments($"--initial-position must be Latest or Earliest, not '{parse.GetValue(position)}'");
            }

            bool isPattern = parse.GetValue(regex);
            bool asHex = parse.GetValue(hex);

            int wanted = parse.GetValue(count);
            int idleSeconds = parse.GetValue(timeout);
            string serviceUrl = ClientConnection.Resolve(parse, url, legacyUrl);
            await using var client = new PulsarishClient(serviceUrl);
            try
            {
                await ClientConnection.EnsureReachableAsync(serviceUrl, ct);
                await using var consumer = await client.SubscribeAsync(new ConsumerOptions
                {
                    Topic = isPattern ? "" : parse.GetValue(topic)!,
                    TopicsPattern = isPattern ? parse.GetValue(topic)! : null,
                    SubscriptionName = parse.GetValue(subscription)!,
                    SubscriptionType = subscriptionType,
                    InitialPosition = initialPosition,
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

                    MessagePrinter.Print(message, asHex, withTopic: isPattern);
                    await consumer.AcknowledgeAsync(message, ct);
                    received++;
                }

                Console.Out.WriteLine($"{received} messages successfully consumed");
                return wanted == 0 || received == wanted ? 0 : 1;
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                return 0;
            }
            catch (ArgumentException e)
            {
                return CliErrors.BadArguments(e.Message);
            }
            catch (Exception e) when (CliErrors.TryPrint(e, out int exitCode))
            {
                return exitCode;
            }
        });
        return command;
    }

    /// <summary>Accepts Pulsar's spellings (Earliest, Latest), any case.</summary>
    public static bool TryParsePosition(string text, out SubscriptionInitialPosition position)
        => Enum.TryParse(text, ignoreCase: true, out position) && Enum.IsDefined(position)
           && !int.TryParse(text, out _);

    /// <summary>Accepts Pulsar's spellings (Key_Shared) and ours (KeyShared), any case.</summary>
    public static bool TryParseType(string text, out SubscriptionType type)
        => Enum.TryParse(text.Replace("_", "", StringComparison.Ordinal), ignoreCase: true, out type)
           && Enum.IsDefined(type) && !int.TryParse(text, out _);
}
