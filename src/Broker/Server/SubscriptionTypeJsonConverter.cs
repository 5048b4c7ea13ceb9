using System.Text.Json;
using System.Text.Json.Serialization;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Server;

/// <summary>
/// Writes a <see cref="SubscriptionType"/> in admin JSON by Pulsar's names (Exclusive, Shared, Failover, Key_Shared)
/// instead of its number; reads those names (any case) or the number.
/// </summary>
public sealed class SubscriptionTypeJsonConverter : JsonConverter<SubscriptionType>
{
    /// <summary>Pulsar's name of <paramref name="type"/>.</summary>
    public static string NameOf(SubscriptionType type) => type switch
    {
        SubscriptionType.Exclusive => "Exclusive",
        SubscriptionType.Shared => "Shared",
        SubscriptionType.Failover => "Failover",
        SubscriptionType.KeyShared => "Key_Shared",
        _ => ((int)type).ToString(System.Globalization.CultureInfo.InvariantCulture),
    };

    public override SubscriptionType Read(ref Utf8JsonReader reader, Type typeToConvert, JsonSerializerOptions options)
    {
        if (reader.TokenType == JsonTokenType.Number)
        {
            return (SubscriptionType)reader.GetInt32();
        }

        string text = (reader.GetString() ?? "").Replace("_", "", StringComparison.Ordinal);
        return Enum.TryParse<SubscriptionType>(text, ignoreCase: true, out var type)
            ? type
            : throw new JsonException($"unknown subscription type '{EchoedText(reader.GetString())}'");
    }

    public override void Write(Utf8JsonWriter writer, SubscriptionType value, JsonSerializerOptions options)
        => writer.WriteStringValue(NameOf(value));

    private static string EchoedText(string? text) => Errors.EchoedName.Of(text);
}
