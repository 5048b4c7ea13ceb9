using Pulsarish.Protocol.Errors;

namespace Pulsarish.Broker.Ownership;

/// <summary>An ownership or broker record in the metadata store could not be decoded.</summary>
public sealed class InvalidMetadataRecordException(string path, string detail)
    : PulsarishException("InvalidMetadata", $"invalid record at {path}: {detail}")
{
    public string Path { get; } = path;
}
