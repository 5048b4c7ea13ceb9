using System.Text.Json;
using Pulsarish.Protocol.Errors;

namespace Pulsarish.Broker.Ownership;

/// <summary>JSON encoding of the ownership records; a record that fails to parse is a typed error (it crossed a trust boundary).</summary>
internal static class OwnershipJson
{
    private static readonly JsonSerializerOptions Options = new(JsonSerializerDefaults.Web);

    public static byte[] Encode<T>(T value) => JsonSerializer.SerializeToUtf8Bytes(value, Options);

    public static T Decode<T>(byte[] data, string path) where T : class
    {
        try
        {
            return JsonSerializer.Deserialize<T>(data, Options)
                   ?? throw new InvalidMetadataRecordException(path, "null record");
        }
        catch (JsonException e)
        {
            throw new InvalidMetadataRecordException(path, e.Message);
        }
    }
}
