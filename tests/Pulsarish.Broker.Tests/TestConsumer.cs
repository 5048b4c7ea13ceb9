using Pulsarish.Broker.Dispatch;
using Pulsarish.Broker.Topics;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Tests;

/// <summary>
/// A consumer as the gRPC layer would drive it: a <see cref="ChannelConsumerSink"/> drained by the test, permits
/// granted up front and re-granted as messages are taken (receiver queue semantics).
/// </summary>
public sealed class TestConsumer
{
    private readonly int _receiverQueue;
    private int _takenSinceFlow;

    private TestConsumer(Consumer consumer, ChannelConsumerSink sink, int receiverQueue)
    {
        Consumer = consumer;
        Sink = sink;
        _receiverQueue = receiverQueue;
    }

    public Consumer Consumer { get; }
    public ChannelConsumerSink Sink { get; }
    public List<bool> ActiveChanges { get; } = new();
    public Exception? DisconnectReason { get; private set; }

    public static async Task<TestConsumer> SubscribeAsync(Topic topic, string subscription, SubscriptionType type,
        InitialPosition position = InitialPosition.Earliest, string name = "", int receiverQueue = 1000, int priority = 0,
        TimeSpan? ackTimeout = null, bool flow = true, int? sinkCapacity = null)
    {
        var sink = new ChannelConsumerSink(sinkCapacity ?? receiverQueue * 2 + 16);
        var consumer = await topic.SubscribeAsync(new SubscribeOptions
        {
            Subscription = subscription,
            Type = type,
            InitialPosition = position,
            ConsumerName = name,
            PriorityLevel = priority,
            AckTimeout = ackTimeout,
        }, sink);
        var test = new TestConsumer(consumer, sink, receiverQueue);
        if (flow)
        {
            consumer.Flow(receiverQueue);
        }
        return test;
    }

    /// <summary>The next message within <paramref name="timeout"/>, or null.</summary>
    public async Task<DeliveredMessage?> ReceiveAsync(TimeSpan timeout)
    {
        using var cts = new CancellationTokenSource(timeout);
        try
        {
            while (true)
            {
                var e = await Sink.Reader.ReadAsync(cts.Token);
                if (e.IsActive is { } active)
                {
                    ActiveChanges.Add(active);
                    continue;
                }
                if (e.Disconnect is not null)
                {
                    DisconnectReason = e.Disconnect;
                    return null;
                }
                if (++_takenSinceFlow >= _receiverQueue / 2)
                {
                    Consumer.Flow(_takenSinceFlow);
                    _takenSinceFlow = 0;
                }
                return e.Message;
            }
        }
        catch (OperationCanceledException)
        {
            return null;
        }
        catch (System.Threading.Channels.ChannelClosedException)
        {
            return null;
        }
    }

    /// <summary>Exactly <paramref name="count"/> messages (fails the test when they do not arrive in time).</summary>
    public async Task<List<DeliveredMessage>> ReceiveAsync(int count, TimeSpan? timeout = null)
    {
        var deadline = DateTime.UtcNow + (timeout ?? TimeSpan.FromSeconds(30));
        var result = new List<DeliveredMessage>(count);
        while (result.Count < count)
        {
            var left = deadline - DateTime.UtcNow;
            var message = left > TimeSpan.Zero ? await ReceiveAsync(left) : null;
            if (message is null)
            {
                Assert.Fail($"received {result.Count} of {count} messages");
            }
            result.Add(message!);
        }
        return result;
    }

    /// <summary>Drains what arrives until nothing comes for <paramref name="quiet"/>.</summary>
    public async Task<List<DeliveredMessage>> DrainAsync(TimeSpan quiet)
    {
        var result = new List<DeliveredMessage>();
        while (await ReceiveAsync(quiet) is { } message)
        {
            result.Add(message);
        }
        return result;
    }

    public void Ack(DeliveredMessage message) => Consumer.Acknowledge(AckType.Individual, [message.Id]);

    public void Ack(IEnumerable<DeliveredMessage> messages) => Consumer.Acknowledge(AckType.Individual, messages.Select(m => m.Id).ToList());
}
