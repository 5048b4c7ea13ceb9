using System.Text;
using Pulsarish.Client;

namespace Pulsarish.Cli;

/// <summary>How <c>consume</c> and <c>read</c> print a received message: id, topic, key, then the payload (UTF-8 or hex).</summary>
public static class MessagePrinter
{
    public static void Print(Message message, bool hex, bool withTopic)
    {
        string key = message.Key is null ? "" : $" key={message.Key}";
        string topic = withTopic ? $" topic={message.Topic}" : "";
        string payload = hex ? Convert.ToHexString(message.Payload.Span).ToLowerInvariant() : Encoding.UTF8.GetString(message.Payload.Span);
        Console.Out.WriteLine($"----- got message -----{Environment.NewLine}id={message.MessageId}{topic}{key} " +
                              $"redelivery={message.RedeliveryCount}{Environment.NewLine}{payload}");
    }
}
