using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using Grpc.Core;
using Grpc.Net.Client;
using Wire = Pulsarish.Protocol.Broker;
using Pulsarish.TestKit;

namespace Pulsarish.Client.Tests;

/// <summary>
/// Ack timeout, negative-ack delay and backoff, dead-letter and retry topics (Pulsar client semantics) against a real
/// in-process broker and bookies. Timing asserts are lower bounds only.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class RedeliveryTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
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

    [Test]
    public async Task NackedMessagesLandInTheDeadLetterTopicOnceAfterMaxRedeliverCountRedeliveries()
    {
        const int maxRedeliverCount = 2;
        string topic = $"persistent://public/default/dlq-{Guid.NewGuid():N}";
        await using var consumer = await _client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "work", SubscriptionType = SubscriptionType.Shared,
            InitialPosition = SubscriptionInitialPosition.Earliest,
            NegativeAckRedeliveryDelay = TimeSpan.FromMilliseconds(100),
            DeadLetterPolicy = new DeadLetterPolicy { MaxRedeliverCount = maxRedeliverCount },
        });
        Assert.That(consumer.DeadLetterTopic, Is.EqualTo($"{topic}-work-DLQ"), "Pulsar's default name");
        await using var dlq = await _client.SubscribeAsync(new ConsumerOptions
        {
            Topic = consumer.DeadLetterTopic!, SubscriptionName = "inspect", InitialPosition = SubscriptionInitialPosition.Earliest,
        });
        var sent = new Dictionary<string, MessageId>();
        await using (var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = topic, BatchingEnabled = false }))
        {
            for (int i = 0; i < 3; i++)
            {
                sent[$"poison-{i}"] = await producer.SendAsync(new OutgoingMessage(Encoding.UTF8.GetBytes($"poison-{i}"))
                {
                    Key = $"k{i}", Properties = new Dictionary<string, string> { ["app"] = $"v{i}" },
                });
            }
        }

        var deliveries = new ConcurrentDictionary<string, List<int>>();
        var dead = new ConcurrentQueue<Message>();
        using var stop = new CancellationTokenSource(Patience);
        var nacking = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var message = await consumer.ReceiveAsync(stop.Token);
                deliveries.GetOrAdd(Text(message), _ => new List<int>()).Add(message.RedeliveryCount);
                consumer.NegativeAcknowledge(message);
            }
        });
        var collecting = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var message = await dlq.ReceiveAsync(stop.Token);
                dead.Enqueue(message);
                await dlq.AcknowledgeAsync(message.MessageId);
            }
        });

        await Eventually.That(() => dead.Count >= 3, Patience, "the three messages reach the dead-letter topic");
        await Task.Delay(TimeSpan.FromSeconds(1.5));   // room for a duplicate copy or a further delivery to show up
        stop.Cancel();
        Assert.That(async () => await nacking, Throws.InstanceOf<OperationCanceledException>());
        Assert.That(async () => await collecting, Throws.InstanceOf<OperationCanceledException>());

        Assert.That(dead.Select(Text).OrderBy(t => t), Is.EqualTo(sent.Keys.OrderBy(t => t)), "each exactly once in the DLQ");
        foreach (var (text, counts) in deliveries)
        {
            Assert.That(counts, Is.EqualTo(Enumerable.Range(0, maxRedeliverCount + 1)),
                $"{text}: delivered 1 + MaxRedeliverCount times with counts 0..Max, then never again");
        }
        foreach (var copy in dead)
        {
            string text = Text(copy);
            int i = text[^1] - '0';
            Assert.That(copy.Key, Is.EqualTo($"k{i}"));
            Assert.That(copy.Properties["app"], Is.EqualTo($"v{i}"));
            Assert.That(copy.Properties[RetryMessageProperties.RealTopic], Is.EqualTo(topic));
            Assert.That(copy.Properties[RetryMessageProperties.OriginMessageId], Is.EqualTo(sent[text].ToString()));
        }
    }

    [Test]
    public async Task AckTimeoutRedeliversAnUnacknowledgedMessageWithItsCountIncrementedThenDeadLetters()
    {
        string topic = $"ack-timeout-{Guid.NewGuid():N}";
        await using var consumer = await _client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "slow", SubscriptionType = SubscriptionType.Shared,
            InitialPosition = SubscriptionInitialPosition.Earliest,
            AckTimeout = TimeSpan.FromSeconds(1),
            DeadLetterPolicy = new DeadLetterPolicy { MaxRedeliverCount = 1 },
        });
        await using var dlq = await _client.SubscribeAsync(new ConsumerOptions
        {
            Topic = consumer.DeadLetterTopic!, SubscriptionName = "inspect", InitialPosition = SubscriptionInitialPosition.Earliest,
        });
        await using (var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = topic }))
        {
            await producer.SendAsync("forgotten"u8.ToArray());
        }

        using var deadline = new CancellationTokenSource(Patience);
        var first = await consumer.ReceiveAsync(deadline.Token);
        var clock = Stopwatch.StartNew();
        var again = await consumer.ReceiveAsync(deadline.Token);
        Assert.That(clock.Elapsed, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(0.9)), "not before the ack timeout");
        Assert.That(again.MessageId, Is.EqualTo(first.MessageId));
        Assert.That((first.RedeliveryCount, again.RedeliveryCount), Is.EqualTo((0, 1)));

        // At the limit and timed out once more: moved to the DLQ, not delivered a third time.
        var copy = await dlq.ReceiveAsync(deadline.Token);
        Assert.That(Text(copy), Is.EqualTo("forgotten"));
        using var quiet = new CancellationTokenSource(TimeSpan.FromSeconds(2.5));
        Assert.That(async () => await consumer.ReceiveAsync(quiet.Token), Throws.InstanceOf<OperationCanceledException>(),
            "the original was acknowledged after the move");
    }

    [Test]
    public async Task NegativeAckIsRedeliveredOnlyAfterTheDelayAndTheBackoffGrows()
    {
        string topic = $"nack-delay-{Guid.NewGuid():N}";
        var delay = TimeSpan.FromSeconds(1.5);
        await using var consumer = await _client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "later", SubscriptionType = SubscriptionType.Shared,
            InitialPosition = SubscriptionInitialPosition.Earliest, NegativeAckRedeliveryDelay = delay,
        });
        var backoff = new RedeliveryBackoff { MinDelay = TimeSpan.FromMilliseconds(300), MaxDelay = TimeSpan.FromSeconds(5), Multiplier = 4 };
        await using var backingOff = await _client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "backoff", SubscriptionType = SubscriptionType.Shared,
            InitialPosition = SubscriptionInitialPosition.Earliest, NegativeAckRedeliveryBackoff = backoff,
        });
        await using (var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = topic }))
        {
            await producer.SendAsync("again"u8.ToArray());
        }

        using var deadline = new CancellationTokenSource(Patience);
        var first = await consumer.ReceiveAsync(deadline.Token);
        var clock = Stopwatch.StartNew();
        consumer.NegativeAcknowledge(first);
        var again = await consumer.ReceiveAsync(deadline.Token);
        Assert.That(clock.Elapsed, Is.GreaterThanOrEqualTo(delay), "a nacked message waits for the delay");
        Assert.That((again.MessageId, again.RedeliveryCount), Is.EqualTo((first.MessageId, 1)));
        await consumer.AcknowledgeAsync(again.MessageId);

        // Backoff: count 0 waits 300 ms, count 1 waits 1.2 s.
        var gaps = new List<TimeSpan>();
        var message = await backingOff.ReceiveAsync(deadline.Token);
        for (int i = 0; i < 2; i++)
        {
            clock.Restart();
            backingOff.NegativeAcknowledge(message);
            message = await backingOff.ReceiveAsync(deadline.Token);
            gaps.Add(clock.Elapsed);
        }
        Assert.That(message.RedeliveryCount, Is.EqualTo(2));
        Assert.That(gaps[0], Is.GreaterThanOrEqualTo(backoff.Next(0)));
        Assert.That(gaps[1], Is.GreaterThanOrEqualTo(backoff.Next(1)));
        Assert.That(backoff.Next(1), Is.EqualTo(TimeSpan.FromMilliseconds(1200)));
        Assert.That(backoff.Next(10), Is.EqualTo(backoff.MaxDelay), "capped");
        await backingOff.AcknowledgeAsync(message.MessageId);
    }

    [Test]
    public async Task ReconsumeLaterRedeliversFromTheRetryTopicAfterTheDelayThenDeadLetters()
    {
        string topic = $"persistent://public/default/retry-{Guid.NewGuid():N}";
        var delay = TimeSpan.FromSeconds(5);
        await using var consumer = await _client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "work", SubscriptionType = SubscriptionType.Shared,
            InitialPosition = SubscriptionInitialPosition.Earliest, EnableRetry = true,
            DeadLetterPolicy = new DeadLetterPolicy { MaxRedeliverCount = 1 },
        });
        Assert.That(consumer.RetryLetterTopic, Is.EqualTo($"{topic}-work-RETRY"));
        await using var dlq = await _client.SubscribeAsync(new ConsumerOptions
        {
            Topic = consumer.DeadLetterTopic!, SubscriptionName = "inspect", InitialPosition = SubscriptionInitialPosition.Earliest,
        });
        MessageId original;
        await using (var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = topic }))
        {
            original = await producer.SendAsync("try-later"u8.ToArray(), key: "k");
        }

        using var deadline = new CancellationTokenSource(Patience);
        var first = await consumer.ReceiveAsync(deadline.Token);
        var clock = Stopwatch.StartNew();
        await consumer.ReconsumeLaterAsync(first, delay);
        var retried = await consumer.ReceiveAsync(deadline.Token);
        Assert.That(clock.Elapsed, Is.GreaterThanOrEqualTo(delay), "not before the reconsume delay");
        Assert.Multiple(() =>
        {
            Assert.That(retried.Topic, Is.EqualTo(consumer.RetryLetterTopic));
            Assert.That(Text(retried), Is.EqualTo("try-later"));
            Assert.That(retried.Key, Is.EqualTo("k"));
            Assert.That(retried.Properties[RetryMessageProperties.RealTopic], Is.EqualTo(topic));
            Assert.That(retried.Properties[RetryMessageProperties.OriginMessageId], Is.EqualTo(original.ToString()));
            Assert.That(retried.Properties[RetryMessageProperties.ReconsumeTimes], Is.EqualTo("1"));
            Assert.That(retried.Properties[RetryMessageProperties.DelayTime], Is.EqualTo("5000"));
        });

        // The limit is reached: the next reconsume goes to the DLQ, and nothing comes back.
        await consumer.ReconsumeLaterAsync(retried, delay);
        var copy = await dlq.ReceiveAsync(deadline.Token);
        Assert.That(Text(copy), Is.EqualTo("try-later"));
        Assert.That(copy.Properties[RetryMessageProperties.OriginMessageId], Is.EqualTo(original.ToString()));
        using var quiet = new CancellationTokenSource(TimeSpan.FromSeconds(1.5));
        Assert.That(async () => await consumer.ReceiveAsync(quiet.Token), Throws.InstanceOf<OperationCanceledException>());
    }

    [Test]
    public async Task AConsumerLeavingIsNoRedeliveryRequestAndDoesNotCountTowardsTheDeadLetterTopic()
    {
        string topic = $"leave-{Guid.NewGuid():N}";
        var options = new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "work", SubscriptionType = SubscriptionType.Shared,
            InitialPosition = SubscriptionInitialPosition.Earliest,
            DeadLetterPolicy = new DeadLetterPolicy { MaxRedeliverCount = 1 },
        };
        await using (var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = topic }))
        {
            await producer.SendAsync("prefetched"u8.ToArray());
        }

        using var deadline = new CancellationTokenSource(Patience);
        for (int i = 0; i < 3; i++)
        {
            // Prefetched (and even received) then the consumer goes away: the broker redelivers, uncounted.
            await using var leaving = await _client.SubscribeAsync(options);
            var message = await leaving.ReceiveAsync(deadline.Token);
            Assert.That(message.RedeliveryCount, Is.EqualTo(0), $"after {i} consumers left");
        }

        await using var staying = await _client.SubscribeAsync(options);
        var again = await staying.ReceiveAsync(deadline.Token);
        Assert.That(again.RedeliveryCount, Is.EqualTo(0));
        await staying.AcknowledgeAsync(again.MessageId);
    }

    [TestCase(-1L, 0L, 0L, 0.0)]
    [TestCase(1000L, -5L, 10L, 2.0)]
    [TestCase(1000L, 100L, 10L, 2.0)]
    [TestCase(1000L, 10L, 100L, 0.5)]
    public async Task BadAckTimeoutSettingsAreRefusedWithBadRequest(long ackTimeoutMillis, long minMillis, long maxMillis, double multiplier)
    {
        using var channel = GrpcChannel.ForAddress("http://" + _cluster.Address);
        var broker = new Wire.PulsarishBroker.PulsarishBrokerClient(channel);
        using var consume = broker.Consume();
        var subscribe = new Wire.Subscribe
        {
            Topic = $"persistent://public/default/bad-ack-timeout-{Guid.NewGuid():N}", Subscription = "s",
            AckTimeoutMillis = ackTimeoutMillis,
        };
        if (minMillis != 0 || maxMillis != 0 || multiplier != 0)
        {
            subscribe.AckTimeoutBackoff = new Wire.RedeliveryBackoffPolicy { MinDelayMillis = minMillis, MaxDelayMillis = maxMillis, Multiplier = multiplier };
        }
        await consume.RequestStream.WriteAsync(new Wire.ConsumeRequest { Subscribe = subscribe });
        Assert.That(await consume.ResponseStream.MoveNext(), Is.True);
        Assert.That(consume.ResponseStream.Current.Error.Reason, Is.EqualTo(Wire.ErrorReason.BadRequest));
        var error = Assert.ThrowsAsync<RpcException>(async () => await consume.ResponseStream.MoveNext());
        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));

        // The SDK refuses what the broker would, before connecting.
        Assert.ThrowsAsync<ArgumentException>(async () => await _client.SubscribeAsync(new ConsumerOptions
        {
            Topic = "t", SubscriptionName = "s", AckTimeout = TimeSpan.FromMilliseconds(500),
        }));
        Assert.ThrowsAsync<ArgumentException>(async () => await _client.SubscribeAsync(new ConsumerOptions
        {
            Topic = "t", SubscriptionName = "s", DeadLetterPolicy = new DeadLetterPolicy { MaxRedeliverCount = 0 },
        }));
    }

    [Test]
    public async Task CliConsumeNacksIntoTheDeadLetterTopic()
    {
        string topic = $"persistent://public/default/cli-dlq-{Guid.NewGuid():N}";
        string deadLetterTopic = topic + "-parked";
        await using (var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = topic }))
        {
            await producer.SendAsync("from-cli"u8.ToArray());
        }

        // Delivered twice (redelivery 0 and 1), the second nack at MaxRedeliverCount 1 moves it.
        var (code, output, error) = await PulsarishCli.RunSeparatelyAsync("consume", topic, "-s", "cli", "-t", "Shared",
            "--initial-position", "earliest", "--negative-ack-delay", "0.1", "--dead-letter-topic", deadLetterTopic,
            "--max-redeliver-count", "1", "--nack", "-n", "2", "--timeout-seconds", "30", "--service-url", _cluster.Address);
        Assert.That(code, Is.EqualTo(0), output + error);
        Assert.That(output, Does.Contain("redelivery=0").And.Contain("redelivery=1"));

        (code, output, error) = await PulsarishCli.RunSeparatelyAsync("consume", deadLetterTopic, "-s", "inspect",
            "--initial-position", "earliest", "-n", "1", "--timeout-seconds", "30", "--service-url", _cluster.Address);
        Assert.That(code, Is.EqualTo(0), output + error);
        Assert.That(output, Does.Contain("from-cli").And.Contain($"REAL_TOPIC={topic}"));

        (code, _, error) = await PulsarishCli.RunSeparatelyAsync("consume", topic, "-s", "cli", "--ack-timeout", "0.5",
            "--service-url", _cluster.Address);
        Assert.That(code, Is.EqualTo(2), "a bad command line");
        Assert.That(error, Does.Contain("--ack-timeout"));
    }

    private static string Text(Message message) => Encoding.UTF8.GetString(message.Payload.Span);
}
