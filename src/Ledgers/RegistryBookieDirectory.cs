using Pulsarish.Metadata;
using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Ledgers;

/// <summary><see cref="IBookieDirectory"/> over the <see cref="BookieRegistry"/> (/ledgers/available).</summary>
public sealed class RegistryBookieDirectory(BookieRegistry registry) : IBookieDirectory
{
    public Task<IReadOnlyList<BookieServiceInfo>> GetAvailableAsync(CancellationToken ct = default)
        => registry.GetAvailableAsync(ct);
}
