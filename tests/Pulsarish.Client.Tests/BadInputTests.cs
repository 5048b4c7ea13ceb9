using System.Text;
using Grpc.Core;
using Grpc.Net.Client;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Client.Tests;

/// <summary>
/// DESIGN.md §8: bad input is refused with a clear, machine-readable reason and never stops the broker from serving
/// (each test ends by producing and consuming on a fresh topic).
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class BadInputTests
{
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

    [TearDown]
    public async Task BrokerStillServesAsync()
    {
        string topic = $"alive-{Guid.NewGuid():N}";
        await using var consumer = await _client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "alive", InitialPosition = SubscriptionInitialPosition.Earliest,
        });
        await using var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = topic });
        await producer.SendAsync("still here"u8.ToArray());
        var message = await consumer.ReceiveAsync(new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token);
        Assert.That(Encoding.UTF8.GetString(message.Payload.Span), Is.EqualTo("still here"));
    }

    [TestCase("persistent://public/default/")]
    [TestCase("persistent://bad tenant/default/t")]
    [TestCase("persistent://public//empty-namespace")]
    [TestCase("nonpersistent://public/default/t")]
    [TestCase("a/b/c/d/e")]
    public void InvalidTopicNameIsRefused(string topic)
    {
        var error = Assert.ThrowsAsync<PulsarishClientException>(() =>
            _client.CreateProducerAsync(new ProducerOptions { Topic = topic }));
        Assert.That(error!.ErrorReason, Is.EqualTo(ErrorReason.InvalidTopicName), error.Message);

        error = Assert.ThrowsAsync<PulsarishClientException>(() => _client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "s",
        }));
        Assert.That(error!.ErrorReason, Is.EqualTo(ErrorReason.InvalidTopicName), error.Message);
    }

    [Test]
    public async Task OversizeMessageFailsAloneWithTooLarge()
    {
        string topic = $"oversize-{Guid.NewGuid():N}";
        await using var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = topic });
        var before = await producer.SendAsync("before"u8.ToArray());
        var tooBig = new byte[6 * 1024 * 1024];
        Random.Shared.NextBytes(tooBig);
        var error = Assert.ThrowsAsync<PulsarishClientException>(() => producer.SendAsync(tooBig));
        Assert.That(error!.ErrorReason, Is.EqualTo(ErrorReason.TooLarge), error.Message);
        var after = await producer.SendAsync("after"u8.ToArray());
        Assert.That(after, Is.GreaterThan(before), "the producer goes on after a refused send");
    }

    [Test]
    public void UnknownSubscriptionTypeIsRefused()
    {
        var error = Assert.ThrowsAsync<PulsarishClientException>(() => _client.SubscribeAsync(new ConsumerOptions
        {
            Topic = $"subtype-{Guid.NewGuid():N}", SubscriptionName = "s", SubscriptionType = (SubscriptionType)42,
        }));
        Assert.That(error!.ErrorReason, Is.EqualTo(ErrorReason.BadRequest));
        Assert.That(error.Message, Does.Contain("subscription type"));
    }

    [Test]
    public void SecondExclusiveConsumerIsRefusedWithSubscriptionBusy()
    {
        string topic = $"busy-{Guid.NewGuid():N}";
        var options = new ConsumerOptions { Topic = topic, SubscriptionName = "only" };
        Assert.That(async () =>
        {
            await using var first = await _client.SubscribeAsync(options);
            var error = Assert.ThrowsAsync<PulsarishClientException>(() => _client.SubscribeAsync(options));
            Assert.That(error!.ErrorReason, Is.EqualTo(ErrorReason.SubscriptionBusy));
        }, Throws.Nothing);
    }

    [Test]
    public async Task AckOfAnUnknownMessageIdIsRefused()
    {
        string topic = $"unknown-ack-{Guid.NewGuid():N}";
        await using var consumer = await _client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "s", InitialPosition = SubscriptionInitialPosition.Earliest,
        });
        var error = Assert.ThrowsAsync<PulsarishClientException>(() => consumer.AcknowledgeAsync(new MessageId(987654, 3)));
        Assert.That(error!.ErrorReason, Is.EqualTo(ErrorReason.InvalidMessageId), error.Message);

        await using var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = topic });
        await producer.SendAsync("x"u8.ToArray());
        var message = await consumer.ReceiveAsync(new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token);
        await consumer.AcknowledgeAsync(message.MessageId);
    }

    [Test]
    public async Task RawStreamsWithoutOpenOrSubscribeAreRefused()
    {
        using var channel = GrpcChannel.ForAddress("http://" + _cluster.Address);
        var broker = new PulsarishBroker.PulsarishBrokerClient(channel);

        using (var produce = broker.Produce())
        {
            await produce.RequestStream.WriteAsync(new ProduceRequest { Send = new SendRequest { SequenceId = 1 } });
            var error = Assert.ThrowsAsync<RpcException>(async () => await produce.ResponseStream.MoveNext());
            Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
            Assert.That(error.Trailers.GetValue("reason"), Is.EqualTo(nameof(ErrorReason.BadRequest)));
        }

        using (var consume = broker.Consume())
        {
            await consume.RequestStream.WriteAsync(new ConsumeRequest { Flow = new Flow { Permits = 10 } });
            var error = Assert.ThrowsAsync<RpcException>(async () => await consume.ResponseStream.MoveNext());
            Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument));
        }

        // A send with no messages, then a good one, on one stream: the first fails alone.
        using var call = broker.Produce();
        await call.RequestStream.WriteAsync(new ProduceRequest
        {
            Open = new ProducerOpen { Topic = $"persistent://public/default/raw-{Guid.NewGuid():N}" },
        });
        Assert.That(await call.ResponseStream.MoveNext(), Is.True);
        Assert.That(call.ResponseStream.Current.ResponseCase, Is.EqualTo(ProduceResponse.ResponseOneofCase.Opened));
        await call.RequestStream.WriteAsync(new ProduceRequest { Send = new SendRequest { SequenceId = 0 } });
        var good = new SendRequest { SequenceId = 1 };
        good.Messages.Add(new ProducerMessage { Payload = Google.Protobuf.ByteString.CopyFromUtf8("ok") });
        await call.RequestStream.WriteAsync(new ProduceRequest { Send = good });
        Assert.That(await call.ResponseStream.MoveNext(), Is.True);
        Assert.That(call.ResponseStream.Current.Error.Reason, Is.EqualTo(ErrorReason.BadRequest));
        Assert.That(await call.ResponseStream.MoveNext(), Is.True);
        Assert.That(call.ResponseStream.Current.Receipt.SequenceId, Is.EqualTo(1));
        await call.RequestStream.CompleteAsync();
    }
}
