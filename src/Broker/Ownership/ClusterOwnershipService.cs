using Pulsarish.Broker.Errors;
using Pulsarish.Broker.Topics;

namespace Pulsarish.Broker.Ownership;

/// <summary>
/// The broker engine's ownership seam (<see cref="IOwnershipService"/>) backed by ZooKeeper bundle ownership
/// (<see cref="OwnershipService"/>): a topic is loaded only when its bundle is ours (acquired on demand, as a
/// redirected client's request is authoritative), lookups answer with the owner's address, and a lost metadata
/// connection or session unloads every topic at once, a lost bundle the topics in it.
/// </summary>
public sealed class ClusterOwnershipService : IOwnershipService, IAsyncDisposable
{
    public ClusterOwnershipService(OwnershipService service)
    {
        ArgumentNullException.ThrowIfNull(service);
        Service = service;
        service.ServingStopped += _ => OwnershipLost?.Invoke(static _ => true);
        service.BundleLost += bundle => OwnershipLost?.Invoke(topic => service.Bundles.Find(topic.FullName) == bundle);
    }

    /// <summary>The bundle ownership underneath.</summary>
    public OwnershipService Service { get; }

    public event Action<Func<TopicName, bool>>? OwnershipLost;

    public async Task EnsureOwnedAsync(TopicName topic, CancellationToken ct = default)
    {
        if (Service.IsOwnedByMe(topic.FullName)) return;
        string? owner = await Service.EnsureOwnedAsync(topic.FullName, ct).ConfigureAwait(false);
        if (owner is not null) throw new NotOwnerException(topic.FullName);
    }

    public async Task<(string Address, bool IsLocal)> LookupAsync(TopicName topic, bool authoritative = false, CancellationToken ct = default)
    {
        string address = await Service.LookupAsync(topic.FullName, authoritative, ct).ConfigureAwait(false);
        return (address, address == Service.Address);
    }

    public ValueTask DisposeAsync() => Service.DisposeAsync();
}
