using System.Threading.Channels;

namespace Pulsarish.Broker.Dispatch;

/// <summary>
/// An <see cref="IConsumerSink"/> backed by a bounded channel (capacity
/// <see cref="BrokerOptions.ConsumerSinkCapacity"/>): the dispatcher writes without blocking, one reader (the gRPC
/// stream pump, or a test) drains <see cref="Reader"/>. The channel completes after <see cref="Disconnected"/>.
/// </summary>
public sealed class ChannelConsumerSink : IConsumerSink
{
    private readonly Channel<ConsumerEvent> _channel;

    public ChannelConsumerSink(int capacity)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(capacity, 1);
        _channel = Channel.CreateBounded<ConsumerEvent>(new BoundedChannelOptions(capacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
    }

    public ChannelReader<ConsumerEvent> Reader => _channel.Reader;

    public bool TrySend(DeliveredMessage message) => _channel.Writer.TryWrite(new ConsumerEvent(message, null, null));

    public void ActiveConsumerChanged(bool isActive) => _channel.Writer.TryWrite(new ConsumerEvent(null, isActive, null));

    public void Disconnected(Exception reason)
    {
        _channel.Writer.TryWrite(new ConsumerEvent(null, null, reason));
        _channel.Writer.TryComplete();
    }
}
