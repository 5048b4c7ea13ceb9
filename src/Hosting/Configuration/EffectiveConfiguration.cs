using System.Globalization;
using System.Reflection;
using System.Text.Encodings.Web;
using System.Text.Json;

namespace Pulsarish.Hosting.Configuration;

/// <summary>
/// Renders bound sections as the JSON a configuration file would hold (<c>pulsarish config show</c>): every key with its
/// effective value, TimeSpans as "hh:mm:ss", secrets masked.
/// </summary>
public static class EffectiveConfiguration
{
    /// <summary>What a masked value prints as.</summary>
    public const string Mask = "***";

    /// <summary>
    /// Keys whose value is secret: names containing Password, Secret or Token, or ending in Key (ApiKey, PrivateKey);
    /// case-insensitive.
    /// </summary>
    public static bool IsSecret(string name)
        => name.Contains("Password", StringComparison.OrdinalIgnoreCase)
            || name.Contains("Secret", StringComparison.OrdinalIgnoreCase)
            || name.Contains("Token", StringComparison.OrdinalIgnoreCase)
            || name.EndsWith("Key", StringComparison.OrdinalIgnoreCase);

    /// <summary>An indented JSON object: one member per section, one member per key.</summary>
    public static string ToJson(IEnumerable<OptionsSection> sections)
    {
        using var stream = new MemoryStream();
        using (var writer = new Utf8JsonWriter(stream, new JsonWriterOptions { Indented = true, Encoder = JavaScriptEncoder.UnsafeRelaxedJsonEscaping }))
        {
            writer.WriteStartObject();
            foreach (var section in sections)
            {
                writer.WriteStartObject(section.Name);
                foreach (var property in section.Options.GetType().GetProperties(BindingFlags.Public | BindingFlags.Instance))
                {
                    if (!ConfigurationSections.IsKey(property))
                    {
                        continue;
                    }

                    WriteValue(writer, property.Name, property.GetValue(section.Options));
                }

                writer.WriteEndObject();
            }

            writer.WriteEndObject();
        }

        return System.Text.Encoding.UTF8.GetString(stream.ToArray());
    }

    private static void WriteValue(Utf8JsonWriter writer, string name, object? value)
    {
        if (value is null)
        {
            writer.WriteNull(name);
            return;
        }

        if (IsSecret(name))
        {
            writer.WriteString(name, Mask);
            return;
        }

        switch (value)
        {
            case bool b:
                writer.WriteBoolean(name, b);
                break;
            case string s:
                writer.WriteString(name, s);
                break;
            case TimeSpan t:
                writer.WriteString(name, t.ToString("c", CultureInfo.InvariantCulture));
                break;
            case Enum e:
                writer.WriteString(name, e.ToString());
                break;
            case int or long or short or byte or uint or ulong or ushort or sbyte:
                writer.WriteNumber(name, Convert.ToInt64(value, CultureInfo.InvariantCulture));
                break;
            case double or float or decimal:
                writer.WriteNumber(name, Convert.ToDouble(value, CultureInfo.InvariantCulture));
                break;
            default:
                writer.WriteString(name, Convert.ToString(value, CultureInfo.InvariantCulture));
                break;
        }
    }
}
