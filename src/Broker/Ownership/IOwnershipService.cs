using Pulsarish.Broker.Topics;

namespace Pulsarish.Broker.Ownership;

/// <summary>
/// The seam through which every topic load passes (DESIGN.md §7): whether this broker owns the topic's namespace
/// bundle, and who does. This issue ships <see cref="LocalOwnershipService"/> (owns everything); the ZooKeeper
/// implementation (ephemeral /namespace/&lt;tenant&gt;/&lt;ns&gt;/&lt;bundle&gt; znodes) plugs in here.
/// </summary>
public interface IOwnershipService
{
    /// <summary>Acquires (or confirms) ownership of <paramref name="topic"/>; throws <see cref="Errors.NotOwnerException"/> when another broker owns it.</summary>
    Task EnsureOwnedAsync(TopicName topic, CancellationToken ct = default);

    /// <summary>
    /// The gRPC address of the owner of <paramref name="topic"/>, and whether that is this broker. An
    /// <paramref name="authoritative"/> lookup (the client was redirected here) acquires an unowned bundle here.
    /// </summary>
    Task<(string Address, bool IsLocal)> LookupAsync(TopicName topic, bool authoritative = false, CancellationToken ct = default);

    /// <summary>Raised when ownership of topics is lost (session expiry, bundle unload); the broker unloads them.</summary>
    event Action<Func<TopicName, bool>>? OwnershipLost;
}
