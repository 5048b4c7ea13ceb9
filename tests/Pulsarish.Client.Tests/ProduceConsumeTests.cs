using System.Text;

namespace Pulsarish.Client.Tests;

/// <summary>
/// The SDK against a real in-process cluster over gRPC: ordering and exactly-once delivery per subscription type,
/// partition routing by key, and the acknowledgement rules (DESIGN.md §2, §8).
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class ProduceConsumeTests
{
    private const int MessageCount = 10_000;
    private InProcessCluster _cluster = null!;
    private PulsarishClient _client = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _cluster = await InProcessCluster.StartAsync();
        _client = _cluster.NewClient();
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        await _client.DisposeAsync();
        await _cluster.DisposeAsync();
    }

    [TestCase(SubscriptionType.Exclusive)]
    [TestCase(SubscriptionType.Failover)]
    [TestCase(SubscriptionType.Shared)]
    [TestCase(SubscriptionType.KeyShared)]
    public async Task TenThousandMessagesArriveInOrderExactlyOnce(SubscriptionType type)
    {
        string topic = $"order-{type}-{Guid.NewGuid():N}";
        await using var consumer = await _client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "sub", SubscriptionType = type,
            InitialPosition = SubscriptionInitialPosition.Earliest,
        });
        await using (var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = topic }))
        {
            var sends = new Task<MessageId>[MessageCount];
            for (int i = 0; i < MessageCount; i++)
            {
                sends[i] = producer.SendAsync(Encoding.UTF8.GetBytes(i.ToString()), key: $"k{i % 16}");
            }

            var ids = await Task.WhenAll(sends);
            Assert.That(ids, Is.Ordered, "receipts complete in send order with increasing ids");
            Assert.That(ids.Distinct().Count(), Is.EqualTo(MessageCount));
        }

        var received = new List<int>(MessageCount);
        var toAck = new List<MessageId>();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (received.Count < MessageCount)
        {
            var message = await consumer.ReceiveAsync(deadline.Token);
            received.Add(int.Parse(Encoding.UTF8.GetString(message.Payload.Span)));
            toAck.Add(message.MessageId);
            if (toAck.Count == 200)
            {
                await consumer.AcknowledgeAsync(toAck);
                toAck.Clear();
            }
        }

        if (toAck.Count > 0)
        {
            await consumer.AcknowledgeAsync(toAck);
        }

        Assert.That(received, Is.EqualTo(Enumerable.Range(0, MessageCount)), "every message once, in publish order");
        using var quiet = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        Assert.ThrowsAsync(Is.InstanceOf<OperationCanceledException>(), async () => await consumer.ReceiveAsync(quiet.Token),
            "nothing is delivered twice");
    }

    [Test]
    public async Task KeyRoutingOnAPartitionedTopicKeepsPerKeyOrder()
    {
        const int partitions = 4;
        const int keys = 24;
        const int perKey = 100;
        string topic = $"persistent://public/default/keyed-{Guid.NewGuid():N}";
        await _cluster.Cluster.Broker.Service.CreatePartitionedTopicAsync(topic, partitions);
        Assert.That(await _client.GetPartitionCountAsync(topic), Is.EqualTo(partitions));

        await using var consumer = await _client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "keyed", SubscriptionType = SubscriptionType.Exclusive,
            InitialPosition = SubscriptionInitialPosition.Earliest,
        });
        await using (var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = topic }))
        {
            Assert.That(producer.Partitions, Is.EqualTo(partitions));
            var sends = new List<Task<MessageId>>();
            for (int seq = 0; seq < perKey; seq++)
            {
                for (int k = 0; k < keys; k++)
                {
                    sends.Add(producer.SendAsync(Encoding.UTF8.GetBytes($"key-{k}:{seq}"), key: $"key-{k}"));
                }
            }

            var ids = await Task.WhenAll(sends);
            for (int i = 0; i < ids.Length; i++)
            {
                int k = i % keys;
                Assert.That(ids[i].Partition, Is.EqualTo((int)(Murmur3.HashUtf8($"key-{k}") % partitions)),
                    "a keyed message goes to murmur3(key) mod N");
            }
        }

        var lastSeq = new Dictionary<string, int>();
        var partitionOfKey = new Dictionary<string, int>();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        for (int n = 0; n < keys * perKey; n++)
        {
            var message = await consumer.ReceiveAsync(deadline.Token);
            var parts = Encoding.UTF8.GetString(message.Payload.Span).Split(':');
            Assert.That(message.Key, Is.EqualTo(parts[0]));
            int seq = int.Parse(parts[1]);
            Assert.That(seq, Is.EqualTo(lastSeq.GetValueOrDefault(parts[0], -1) + 1), $"order of {parts[0]}");
            lastSeq[parts[0]] = seq;
            Assert.That(partitionOfKey.TryAdd(parts[0], message.MessageId.Partition)
                        || partitionOfKey[parts[0]] == message.MessageId.Partition, Is.True, "one partition per key");
            await consumer.AcknowledgeAsync(message.MessageId);
        }

        Assert.That(lastSeq.Values, Is.All.EqualTo(perKey - 1));
        Assert.That(partitionOfKey.Values.Distinct().Count(), Is.GreaterThan(1), "keys spread over partitions");
    }

    [TestCase(SubscriptionType.Shared)]
    [TestCase(SubscriptionType.KeyShared)]
    public async Task CumulativeAckOnSharedSubscriptionsIsRefused(SubscriptionType type)
    {
        string topic = $"cumulative-{Guid.NewGuid():N}";
        await using var consumer = await _client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "shared", SubscriptionType = type,
            InitialPosition = SubscriptionInitialPosition.Earliest,
        });
        await using var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = topic });
        await producer.SendAsync("a"u8.ToArray(), key: "k");
        await producer.SendAsync("b"u8.ToArray(), key: "k");

        var first = await consumer.ReceiveAsync(new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token);
        var error = Assert.ThrowsAsync<PulsarishClientException>(() => consumer.AcknowledgeCumulativeAsync(first.MessageId));
        Assert.That(error!.ErrorReason, Is.EqualTo(Pulsarish.Protocol.Broker.ErrorReason.NotAllowed));
        Assert.That(error.Message, Does.Contain("cumulative"));

        // The stream goes on: individual acks work and the next message arrives.
        await consumer.AcknowledgeAsync(first.MessageId);
        var second = await consumer.ReceiveAsync(new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token);
        Assert.That(Encoding.UTF8.GetString(second.Payload.Span), Is.EqualTo("b"));
    }

    [Test]
    public async Task CumulativeAckOnExclusiveAcknowledgesEverythingBefore()
    {
        string topic = $"cumulative-ex-{Guid.NewGuid():N}";
        await using var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = topic, BatchingEnabled = false });
        var consumerOptions = new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "ex", SubscriptionType = SubscriptionType.Exclusive,
            InitialPosition = SubscriptionInitialPosition.Earliest, ReceiverQueueSize = 10,
        };
        await using (var consumer = await _client.SubscribeAsync(consumerOptions))
        {
            for (int i = 0; i < 10; i++)
            {
                await producer.SendAsync(Encoding.UTF8.GetBytes(i.ToString()));
            }

            Message? sixth = null;
            for (int i = 0; i < 6; i++)
            {
                sixth = await consumer.ReceiveAsync(new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token);
            }

            await consumer.AcknowledgeCumulativeAsync(sixth!.MessageId);
        }

        await using var again = await _client.SubscribeAsync(consumerOptions);
        var next = await again.ReceiveAsync(new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token);
        Assert.That(Encoding.UTF8.GetString(next.Payload.Span), Is.EqualTo("6"), "0..5 were acknowledged cumulatively");
    }

    [Test]
    public async Task NegativeAckRedeliversWithAHigherCount()
    {
        string topic = $"nack-{Guid.NewGuid():N}";
        await using var consumer = await _client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "nack", SubscriptionType = SubscriptionType.Shared,
            InitialPosition = SubscriptionInitialPosition.Earliest, NegativeAckRedeliveryDelay = TimeSpan.Zero,
        });
        await using var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = topic });
        await producer.SendAsync("once-more"u8.ToArray());
        var first = await consumer.ReceiveAsync(new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token);
        consumer.NegativeAcknowledge(first.MessageId);
        var again = await consumer.ReceiveAsync(new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token);
        Assert.That(again.MessageId, Is.EqualTo(first.MessageId));
        Assert.That(again.RedeliveryCount, Is.GreaterThan(first.RedeliveryCount));
        await consumer.AcknowledgeAsync(again.MessageId);
    }

    [Test]
    public async Task SeekToEarliestReplaysAcknowledgedMessages()
    {
        string topic = $"seek-{Guid.NewGuid():N}";
        await using var consumer = await _client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "seek", SubscriptionType = SubscriptionType.Exclusive,
            InitialPosition = SubscriptionInitialPosition.Earliest,
        });
        await using var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = topic });
        for (int i = 0; i < 5; i++)
        {
            await producer.SendAsync(Encoding.UTF8.GetBytes(i.ToString()));
        }

        for (int i = 0; i < 5; i++)
        {
            var m = await consumer.ReceiveAsync(new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token);
            await consumer.AcknowledgeAsync(m.MessageId);
        }

        await consumer.SeekAsync(MessageId.Earliest);
        var replayed = await consumer.ReceiveAsync(new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token);
        Assert.That(Encoding.UTF8.GetString(replayed.Payload.Span), Is.EqualTo("0"));
    }

    [Test]
    public async Task SeekByPublishTimeStartsAtTheFirstLaterMessage()
    {
        string topic = $"seek-time-{Guid.NewGuid():N}";
        await using var consumer = await _client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "seek", InitialPosition = SubscriptionInitialPosition.Earliest,
        });
        await using var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = topic, BatchingEnabled = false });
        await producer.SendAsync("early"u8.ToArray());
        await Task.Delay(50);
        var boundary = DateTimeOffset.UtcNow;
        await Task.Delay(50);
        await producer.SendAsync("late"u8.ToArray());
        for (int i = 0; i < 2; i++)
        {
            var m = await consumer.ReceiveAsync(new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token);
            await consumer.AcknowledgeAsync(m.MessageId);
        }

        await consumer.SeekAsync(boundary);
        var replayed = await consumer.ReceiveAsync(new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token);
        Assert.That(Encoding.UTF8.GetString(replayed.Payload.Span), Is.EqualTo("late"));
    }

    [Test]
    public async Task ExplicitPartitionWinsOverTheKey()
    {
        string topic = $"persistent://public/default/explicit-{Guid.NewGuid():N}";
        await _cluster.Cluster.Broker.Service.CreatePartitionedTopicAsync(topic, 3);
        await using var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = topic });
        for (int partition = 0; partition < 3; partition++)
        {
            var id = await producer.SendAsync(new OutgoingMessage("x"u8.ToArray()) { Key = "same-key", Partition = partition });
            Assert.That(id.Partition, Is.EqualTo(partition));
        }

        var error = Assert.ThrowsAsync<PulsarishClientException>(() =>
            producer.SendAsync(new OutgoingMessage("x"u8.ToArray()) { Partition = 3 }));
        Assert.That(error!.ErrorReason, Is.EqualTo(Pulsarish.Protocol.Broker.ErrorReason.BadRequest));
    }

    [Test]
    public async Task SharedSubscriptionSpreadsEachMessageToExactlyOneConsumer()
    {
        string topic = $"shared-two-{Guid.NewGuid():N}";
        var options = new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "pool", SubscriptionType = SubscriptionType.Shared,
            InitialPosition = SubscriptionInitialPosition.Earliest, ReceiverQueueSize = 50,
        };
        await using var a = await _client.SubscribeAsync(options);
        await using var b = await _client.SubscribeAsync(options);
        await using (var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = topic, BatchingEnabled = false }))
        {
            await Task.WhenAll(Enumerable.Range(0, 400).Select(i => producer.SendAsync(Encoding.UTF8.GetBytes(i.ToString()))));
        }

        var byConsumer = new[] { new List<int>(), new List<int>() };
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        async Task DrainAsync(Consumer consumer, List<int> into)
        {
            while (true)
            {
                using var idle = CancellationTokenSource.CreateLinkedTokenSource(deadline.Token);
                idle.CancelAfter(TimeSpan.FromSeconds(2));
                Message message;
                try
                {
                    message = await consumer.ReceiveAsync(idle.Token);
                }
                catch (OperationCanceledException)
                {
                    return;
                }

                into.Add(int.Parse(Encoding.UTF8.GetString(message.Payload.Span)));
                await consumer.AcknowledgeAsync(message.MessageId);
            }
        }

        await Task.WhenAll(DrainAsync(a, byConsumer[0]), DrainAsync(b, byConsumer[1]));
        Assert.That(byConsumer[0].Concat(byConsumer[1]).Order(), Is.EqualTo(Enumerable.Range(0, 400)), "each message once");
        Assert.That(byConsumer[0], Is.Not.Empty);
        Assert.That(byConsumer[1], Is.Not.Empty);
    }

    [Test]
    public async Task FailoverHandsTheSubscriptionToTheStandbyWhenTheActiveConsumerLeaves()
    {
        string topic = $"failover-{Guid.NewGuid():N}";
        var options = new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "fo", SubscriptionType = SubscriptionType.Failover,
            InitialPosition = SubscriptionInitialPosition.Earliest, ReceiverQueueSize = 10,
        };
        var first = await _client.SubscribeAsync(options);
        await using var second = await _client.SubscribeAsync(options);
        await using var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = topic, BatchingEnabled = false });
        await Task.WhenAll(Enumerable.Range(0, 20).Select(i => producer.SendAsync(Encoding.UTF8.GetBytes(i.ToString()))));

        // Whichever is active gets messages in order; the standby gets none while the active one stays.
        var receiveFirst = first.ReceiveAsync(new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token).AsTask();
        var receiveSecond = second.ReceiveAsync(new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token).AsTask();
        var winner = await Task.WhenAny(receiveFirst, receiveSecond);
        var (active, standby) = winner == receiveFirst ? (first, second) : (second, first);
        var got = await winner;
        Assert.That(Encoding.UTF8.GetString(got.Payload.Span), Is.EqualTo("0"));
        await active.AcknowledgeCumulativeAsync(got.MessageId);
        await active.DisposeAsync();

        var standbyTask = winner == receiveFirst ? receiveSecond : receiveFirst;
        var next = await standbyTask;
        Assert.That(Encoding.UTF8.GetString(next.Payload.Span), Is.EqualTo("1"), "the standby continues after the acknowledged prefix");
        await first.DisposeAsync();
    }

    [Test]
    public async Task LookupAnswersTheOwningBrokersAddress()
    {
        string address = await _client.LookupAsync($"lookup-{Guid.NewGuid():N}");
        Assert.That(address, Is.EqualTo(_cluster.Address));
        Assert.That(await _client.GetPartitionCountAsync($"lookup-{Guid.NewGuid():N}"), Is.EqualTo(0));
        var error = Assert.ThrowsAsync<PulsarishClientException>(() => _client.LookupAsync("persistent://public/default/"));
        Assert.That(error!.ErrorReason, Is.EqualTo(Pulsarish.Protocol.Broker.ErrorReason.InvalidTopicName));
    }
}
