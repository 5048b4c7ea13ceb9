using Pulsarish.Broker.Topics;

namespace Pulsarish.Broker.Dispatch;

/// <summary>Picks the consumer of an entry for one subscription type. Called under the subscription's lock.</summary>
internal interface IConsumerSelector
{
    /// <summary>The consumers changed (sorted by join order).</summary>
    void ConsumersChanged(IReadOnlyList<Consumer> consumers);

    /// <summary>The consumer for an entry with <paramref name="key"/>, or null when none can take it now (no permits).</summary>
    Consumer? Select(string key, Position position);

    /// <summary>Whether an entry that cannot be placed now may be parked so later entries of other keys can pass.</summary>
    bool ParksBlockedEntries { get; }
}
