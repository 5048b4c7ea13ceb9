using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Topics;

/// <summary>
/// A producer attached to a <see cref="Topic"/>. Sends go through <see cref="Topic.PublishAsync"/>; at most
/// <see cref="BrokerOptions.MaxPendingMessagesPerProducer"/> sends may be pending at once.
/// </summary>
public sealed class Producer
{
    internal Producer(Topic topic, long producerId, string name, ProducerAccessMode accessMode, long lastSequenceId)
    {
        Topic = topic;
        ProducerId = producerId;
        Name = name;
        AccessMode = accessMode;
        LastSequenceIdAtOpen = lastSequenceId;
    }

    public Topic Topic { get; }
    public long ProducerId { get; }
    public string Name { get; }
    public ProducerAccessMode AccessMode { get; }

    /// <summary>Highest sequence id persisted for this producer name when it opened (-1: none) — ProducerOpened.last_sequence_id.</summary>
    public long LastSequenceIdAtOpen { get; }

    internal int PendingSends;
    internal long MessagesIn;
    internal long BytesIn;
    internal volatile bool IsClosed;

    /// <summary>Write failures of the managed ledger when the producer attached (see <see cref="ManagedLedger.WriteFailures"/>).</summary>
    internal long WriteFailuresAtAttach;

    /// <summary>One of its sends failed to persist: it is detached and every later send is refused (retriable).</summary>
    internal volatile bool WriteFailed;
    private readonly CancellationTokenSource _detached = new();

    /// <summary>
    /// Cancelled when the topic lets the producer go (unload, deletion, ownership loss) rather than the producer
    /// leaving: its stream ends, so the client looks the topic up again at once instead of at its next send.
    /// </summary>
    public CancellationToken Detached => _detached.Token;

    /// <summary>Sends accepted and not yet persisted.</summary>
    public int PendingMessages => Volatile.Read(ref PendingSends);

    /// <summary>Publishes one batch (see <see cref="Topic.PublishAsync"/>).</summary>
    public Task<PublishResult> SendAsync(StoredBatch batch) => Topic.PublishAsync(this, batch);

    /// <summary>Detaches the producer from its topic.</summary>
    public void Close() => Topic.RemoveProducer(this);

    /// <summary>An <c>ExclusiveWithFencing</c> producer took over: every later send fails with ProducerFenced.</summary>
    public bool IsFenced => _fenced;
    private volatile bool _fenced;

    /// <summary>Fenced by a newer exclusive producer: closed, and its stream ends with ProducerFenced.</summary>
    internal void Fence()
    {
        _fenced = true;
        DetachFromClosedTopic();
    }

    /// <summary>The topic closed under the producer: mark it closed and signal <see cref="Detached"/>.</summary>
    internal void DetachFromClosedTopic()
    {
        IsClosed = true;
        _detached.Cancel();
    }

    public override string ToString() => $"{Name}#{ProducerId}";
}
