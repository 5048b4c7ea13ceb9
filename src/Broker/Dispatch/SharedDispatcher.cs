using Pulsarish.Broker.Topics;

namespace Pulsarish.Broker.Dispatch;

/// <summary>
/// Shared (Pulsar's PersistentDispatcherMultipleConsumers): entries go round-robin to the consumers that have permits;
/// an entry no consumer can take stops dispatch until permits arrive, so the subscription's order is kept.
/// </summary>
internal sealed class SharedDispatcher(Subscription subscription) : Dispatcher(subscription)
{
    private int _next;

    protected override bool DelaysEntries => true;

    protected override Consumer? SelectLocked(string key, Position position)
    {
        int count = Consumers.Count;
        for (int i = 0; i < count; i++)
        {
            var c = Consumers[(_next + i) % count];
            if (c.CanReceive)
            {
                _next = (_next + i + 1) % count;
                return c;
            }
        }
        return null;
    }

    protected override void ConsumersChangedLocked()
    {
    }
}
