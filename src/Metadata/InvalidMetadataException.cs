using Pulsarish.Protocol.Errors;

namespace Pulsarish.Metadata;

/// <summary>A record read from (or about to be written to) the metadata store violates its invariants.</summary>
public sealed class InvalidMetadataException(string path, string detail, Exception? inner = null)
    : MetadataStoreException("InvalidMetadata", $"invalid metadata at {path}: {detail}", inner)
{
    public string Path { get; } = path;
}
