using System.CommandLine;
using System.Globalization;
using Pulsarish.Client;

namespace Pulsarish.Cli;

/// <summary>
/// <c>--deliver-after DURATION</c> and <c>--deliver-at TIME</c> of <c>pulsarish produce</c> (delayed delivery, as
/// <c>pulsar-client produce --deliver-after</c>): Shared and Key_Shared subscriptions get the message not before then.
/// </summary>
public static class DeliveryTimeArguments
{
    public static Option<string?> DeliverAfterOption() => new("--deliver-after")
    {
        Description = "Delayed delivery: not before this long after the send, e.g. 10s, 500ms, 2m (Shared/Key_Shared subscriptions)",
    };

    public static Option<string?> DeliverAtOption() => new("--deliver-at")
    {
        Description = "Delayed delivery: not before this time, Unix ms or ISO 8601 (UTC unless an offset is given)",
    };

    /// <summary>Parses the two options (at most one); false with <paramref name="error"/> for a bad value.</summary>
    public static bool TryParse(ParseResult parse, Option<string?> after, Option<string?> at, out DeliveryTime time, out string error)
    {
        time = default;
        error = "";
        string? afterText = parse.GetValue(after), atText = parse.GetValue(at);
        if (afterText is not null && atText is not null)
        {
            error = "give at most one of --deliver-after and --deliver-at";
            return false;
        }
        try
        {
            if (afterText is not null)
            {
                var delay = PerfCommand.ParseDuration(afterText);
                if (delay < TimeSpan.Zero)
                {
                    error = $"--deliver-after must not be negative: {afterText}";
                    return false;
                }
                time = new DeliveryTime(null, delay);
            }
            else if (atText is not null)
            {
                time = new DeliveryTime(long.TryParse(atText, NumberStyles.Integer, CultureInfo.InvariantCulture, out long millis)
                    ? DateTimeOffset.FromUnixTimeMilliseconds(millis)
                    : DateTimeOffset.Parse(atText, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal), null);
            }
            return true;
        }
        catch (Exception e) when (e is FormatException or OverflowException or ArgumentException)
        {
            error = $"bad delivery time: {e.Message}";
            return false;
        }
    }
}

/// <summary>When a produced message is due: <see cref="At"/> or send time + <see cref="After"/>; neither: at once.</summary>
public readonly record struct DeliveryTime(DateTimeOffset? At, TimeSpan? After)
{
    public bool IsDelayed => At is not null || After is not null;

    public OutgoingMessage ToMessage(byte[] payload, string? key, IReadOnlyDictionary<string, string>? properties) =>
        new(payload) { Key = key, Properties = properties, DeliverAt = At, DeliverAfter = After };
}
