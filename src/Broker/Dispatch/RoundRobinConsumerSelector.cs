using Pulsarish.Broker.Topics;

namespace Pulsarish.Broker.Dispatch;

/// <summary>Shared: entries go round-robin to the consumers that have permits.</summary>
internal sealed class RoundRobinConsumerSelector : IConsumerSelector
{
    private IReadOnlyList<Consumer> _consumers = Array.Empty<Consumer>();
    private int _next;

    public bool ParksBlockedEntries => false;

    public void ConsumersChanged(IReadOnlyList<Consumer> consumers) => _consumers = consumers;

    public Consumer? Select(string key, Position position)
    {
        int count = _consumers.Count;
        for (int i = 0; i < count; i++)
        {
            var c = _consumers[(_next + i) % count];
            if (c.Permits > 0)
            {
                _next = (_next + i + 1) % count;
                return c;
            }
        }
        return null;
    }
}
