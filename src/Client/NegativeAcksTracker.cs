namespace Pulsarish.Client;

/// <summary>
/// Holds negatively acknowledged messages until their redelivery delay is over, then asks the broker to redeliver
/// them, the ids of one partition consumer in one <c>NegativeAck</c> request (Pulsar's NegativeAcksTracker). Kept in
/// the client because the delay is the consumer's setting: the broker keeps no timer per message, the message stays
/// pending on this consumer meanwhile, and one request carries every nack that fell due in a tick. A tick is a quarter
/// of the shortest delay (10 ms to 1 s), so a redelivery is asked for at most that late. Ids of a connection that has
/// since been replaced are dropped: the broker redelivered those already. Bounded by the messages the consumer holds
/// unacknowledged. Thread-safe.
/// </summary>
internal sealed class NegativeAcksTracker : IDisposable
{
    private readonly object _lock = new();
    private readonly Dictionary<MessageId, Pending> _pending = new();
    private readonly Timer _timer;

    private readonly record struct Pending(PartitionConsumer Owner, long Epoch, long DueMillis);

    public NegativeAcksTracker(TimeSpan shortestDelay)
    {
        var tick = TimeSpan.FromMilliseconds(Math.Clamp(shortestDelay.TotalMilliseconds / 4, 10, 1000));
        _timer = new Timer(static s => ((NegativeAcksTracker)s!).Tick(), this, tick, tick);
    }

    /// <summary>Messages waiting for their redelivery request.</summary>
    public int Count
    {
        get
        {
            lock (_lock)
            {
                return _pending.Count;
            }
        }
    }

    /// <summary>Schedules the redelivery request of <paramref name="id"/> after <paramref name="delay"/>.</summary>
    public void Add(PartitionConsumer owner, MessageId id, long epoch, TimeSpan delay)
    {
        // +1: the tick count is truncated to the millisecond, the delay is a lower bound.
        long due = Environment.TickCount64 + (long)Math.Ceiling(delay.TotalMilliseconds) + 1;
        lock (_lock)
        {
            _pending[id] = new Pending(owner, epoch, due);
        }
    }

    /// <summary>The message was acknowledged meanwhile: no redelivery.</summary>
    public void Remove(MessageId id)
    {
        lock (_lock)
        {
            _pending.Remove(id);
        }
    }

    private void Tick()
    {
        long now = Environment.TickCount64;
        Dictionary<PartitionConsumer, List<MessageId>>? due = null;
        lock (_lock)
        {
            if (_pending.Count == 0)
            {
                return;
            }

            List<MessageId>? done = null;
            foreach (var (id, pending) in _pending)
            {
                if (pending.DueMillis > now)
                {
                    continue;
                }

                (done ??= new()).Add(id);
                if (!pending.Owner.IsCurrentEpoch(pending.Epoch))
                {
                    continue;
                }

                due ??= new();
                if (!due.TryGetValue(pending.Owner, out var ids))
                {
                    due[pending.Owner] = ids = new List<MessageId>();
                }

                ids.Add(id);
            }

            if (done is not null)
            {
                foreach (var id in done)
                {
                    _pending.Remove(id);
                }
            }
        }

        if (due is not null)
        {
            foreach (var (owner, ids) in due)
            {
                owner.NegativeAcknowledge(ids);
            }
        }
    }

    public void Dispose() => _timer.Dispose();
}
