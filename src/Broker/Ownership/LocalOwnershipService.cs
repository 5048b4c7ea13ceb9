using Pulsarish.Broker.Topics;

namespace Pulsarish.Broker.Ownership;

/// <summary>Single-broker ownership: this broker owns every topic it is asked for (standalone, tests).</summary>
public sealed class LocalOwnershipService(string advertisedAddress) : IOwnershipService
{
    public Task EnsureOwnedAsync(TopicName topic, CancellationToken ct = default) => Task.CompletedTask;

    public Task<(string Address, bool IsLocal)> LookupAsync(TopicName topic, bool authoritative = false, CancellationToken ct = default)
        => Task.FromResult((advertisedAddress, true));

    public event Action<Func<TopicName, bool>>? OwnershipLost { add { } remove { } }
}
