using System.Text;
using Grpc.Core;
using Grpc.Net.Client;
using Pulsarish.Protocol.Admin;
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
    private readonly CapturedLogs _logs = new();

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _cluster = await InProcessCluster.StartAsync(_logs);
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

    [Test]
    public async Task MalformedRequestBodyIsInvalidArgumentWithBadRequest()
    {
        using var channel = GrpcChannel.ForAddress("http://" + _cluster.Address);
        var bytes = Marshallers.Create<byte[]>(b => b, b => b);
        // 0xFF… is not a valid protobuf tag varint: every request message fails to parse it.
        byte[] garbage = [0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01];
        foreach (var (service, method) in new[] { ("pulsarish.broker.PulsarishBroker", "Lookup"), ("pulsarish.admin.PulsarishAdmin", "CreateTenant") })
        {
            var call = new Method<byte[], byte[]>(MethodType.Unary, service, method, bytes, bytes);
            var error = Assert.ThrowsAsync<RpcException>(async () => await channel.CreateCallInvoker()
                .AsyncUnaryCall(call, null, new CallOptions(deadline: DateTime.UtcNow.AddSeconds(20)), garbage));
            Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument), $"{method}: {error.Status}");
            Assert.That(error.Trailers.GetValue("reason"), Is.EqualTo(nameof(ErrorReason.BadRequest)), method);
        }

        var admin = new PulsarishAdmin.PulsarishAdminClient(channel);
        Assert.That((await admin.ListTenantsAsync(new AdminEmpty())).Names, Does.Contain("public"), "well-formed calls still work");
        // Grpc.AspNetCore's default answers UNKNOWN and logs "Error when executing service method" with the stack trace.
        Assert.That(_logs.Entries.Where(e => e.Category.StartsWith("Grpc", StringComparison.Ordinal)), Is.Empty);
    }

    [Test]
    public void LongNamesAreRefusedAndEchoedShortened()
    {
        string huge = new('x', 1024 * 1024);
        var topicError = Assert.ThrowsAsync<PulsarishClientException>(() => _client.CreateProducerAsync(new ProducerOptions { Topic = huge }));
        Assert.That(topicError!.ErrorReason, Is.EqualTo(ErrorReason.InvalidTopicName));
        Assert.That(topicError.Message.Length, Is.LessThan(400), topicError.Message[..Math.Min(400, topicError.Message.Length)]);
        Assert.That(topicError.Message, Does.Match(@"x…\(10486[0-9]{2} bytes\)"), "the first 100 characters and the size");

        string longLocal = "persistent://public/default/" + new string('t', 256);
        var localError = Assert.ThrowsAsync<PulsarishClientException>(() => _client.CreateProducerAsync(new ProducerOptions { Topic = longLocal }));
        Assert.That(localError!.ErrorReason, Is.EqualTo(ErrorReason.InvalidTopicName), localError.Message);
        Assert.That(localError.Message, Does.Contain("longer than 255 bytes"));
        var nul = Assert.ThrowsAsync<PulsarishClientException>(() => _client.CreateProducerAsync(new ProducerOptions { Topic = "persistent://public/default/a\0b" }));
        Assert.That(nul!.ErrorReason, Is.EqualTo(ErrorReason.InvalidTopicName), nul.Message);
    }

    [TestCase(256, "x")]
    [TestCase(100 * 1024, "x")]
    [TestCase(1, "..")]
    [TestCase(1, "a\0b")]
    [TestCase(1, "a\nb")]
    [TestCase(1, "a/b")]
    public void TenantNamesAreLimitedAndChecked(int repeat, string part)
    {
        using var channel = GrpcChannel.ForAddress("http://" + _cluster.Address);
        var admin = new PulsarishAdmin.PulsarishAdminClient(channel);
        string tenant = string.Concat(Enumerable.Repeat(part, repeat));
        var error = Assert.Throws<RpcException>(() => admin.CreateTenant(new TenantRequest { Tenant = tenant }));
        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.InvalidArgument), error.Status.Detail);
        Assert.That(error.Trailers.GetValue("reason"), Is.EqualTo(nameof(ErrorReason.BadRequest)));
        Assert.That(error.Status.Detail.Length, Is.LessThan(400));
        Assert.That(admin.ListTenants(new AdminEmpty()).Names, Does.Not.Contain(tenant));
    }

    [Test]
    public void NamesOf255BytesAreAccepted()
    {
        using var channel = GrpcChannel.ForAddress("http://" + _cluster.Address);
        var admin = new PulsarishAdmin.PulsarishAdminClient(channel);
        string tenant = new('t', 255);
        admin.CreateTenant(new TenantRequest { Tenant = tenant });
        admin.CreateNamespace(new NamespaceRequest { Namespace = tenant + "/" + new string('n', 255) });
        Assert.That(() => _client.CreateProducerAsync(new ProducerOptions { Topic = $"persistent://{tenant}/{new string('n', 255)}/{new string('l', 255)}" })
            .ContinueWith(t => t.Result.DisposeAsync().AsTask()).Unwrap(), Throws.Nothing);
    }

    [Test]
    public void NamespaceOfAMissingTenantSaysTenantNotFound()
    {
        using var channel = GrpcChannel.ForAddress("http://" + _cluster.Address);
        var admin = new PulsarishAdmin.PulsarishAdminClient(channel);
        var error = Assert.Throws<RpcException>(() => admin.CreateNamespace(new NamespaceRequest { Namespace = "nosuch/ns" }));
        Assert.That(error!.StatusCode, Is.EqualTo(StatusCode.NotFound));
        Assert.That(error.Trailers.GetValue("reason"), Is.EqualTo(nameof(ErrorReason.TenantNotFound)));
        Assert.That(error.Status.Detail, Is.EqualTo("tenant nosuch not found"));
        var list = Assert.Throws<RpcException>(() => admin.ListNamespaces(new TenantRequest { Tenant = "nosuch" }));
        Assert.That(list!.Trailers.GetValue("reason"), Is.EqualTo(nameof(ErrorReason.TenantNotFound)));
    }

    [TestCase(-1, 0)]
    [TestCase(0, -1)]
    [TestCase(-5, -5)]
    public async Task NegativeMessageIdsInAcksAreRefused(long ledgerId, long entryId)
    {
        string topic = $"negative-ack-{Guid.NewGuid():N}";
        await using var consumer = await _client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "s", InitialPosition = SubscriptionInitialPosition.Earliest,
        });
        var error = Assert.ThrowsAsync<PulsarishClientException>(() => consumer.AcknowledgeAsync(new MessageId(ledgerId, entryId)));
        Assert.That(error!.ErrorReason, Is.EqualTo(ErrorReason.InvalidMessageId), error.Message);
        error = Assert.ThrowsAsync<PulsarishClientException>(() => consumer.AcknowledgeCumulativeAsync(new MessageId(ledgerId, entryId)));
        Assert.That(error!.ErrorReason, Is.EqualTo(ErrorReason.InvalidMessageId), error.Message);
    }

    [Test]
    public async Task ResetCursorToALedgerTheTopicDoesNotHaveMovesToTheEndAsPulsarDoes()
    {
        string topic = $"persistent://public/default/reset-{Guid.NewGuid():N}";
        await using (var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = topic, BatchingEnabled = false }))
        {
            for (int i = 0; i < 3; i++) await producer.SendAsync("m"u8.ToArray());
        }

        using var channel = GrpcChannel.ForAddress("http://" + _cluster.Address);
        var admin = new PulsarishAdmin.PulsarishAdminClient(channel);
        await admin.CreateSubscriptionAsync(new SubscriptionRequest { Topic = topic, Subscription = "s", Earliest = true });
        // Pulsar's ManagedCursor.asyncResetCursor moves an invalid position to the next valid one (the end when beyond).
        await admin.ResetCursorAsync(new ResetCursorRequest { Topic = topic, Subscription = "s", MessageId = "999999999:0" });
        Assert.That(Backlog(await admin.GetTopicStatsAsync(new TopicRequest { Topic = topic })), Is.Zero);
        await admin.ResetCursorAsync(new ResetCursorRequest { Topic = topic, Subscription = "s", MessageId = "-1:-1" });
        Assert.That(Backlog(await admin.GetTopicStatsAsync(new TopicRequest { Topic = topic })), Is.EqualTo(3));
        var bad = Assert.ThrowsAsync<RpcException>(async () => await admin.ResetCursorAsync(
            new ResetCursorRequest { Topic = topic, Subscription = "s", MessageId = "nonsense" }));
        Assert.That(bad!.Trailers.GetValue("reason"), Is.EqualTo(nameof(ErrorReason.BadRequest)));

        static long Backlog(JsonReply stats)
        {
            using var doc = System.Text.Json.JsonDocument.Parse(stats.Json);
            return doc.RootElement.GetProperty("subscriptions")[0].GetProperty("backlogEntries").GetInt64();
        }
    }
}
