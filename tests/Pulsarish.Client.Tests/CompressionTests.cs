using System.Text;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Pulsarish.Protocol.Broker;
using Pulsarish.TestKit;
using WireCompression = Pulsarish.Protocol.Broker.CompressionType;

namespace Pulsarish.Client.Tests;

/// <summary>
/// Client-side compression against a real in-process cluster (broker + 3 bookies, docs/protocol.md §7.5): the
/// producer compresses, the broker stores and delivers batches as sent, the consumer decompresses and splits them.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class CompressionTests
{
    private static readonly TimeSpan Deadline = TimeSpan.FromSeconds(30);
    private static readonly CompressionType[] Codecs = [CompressionType.LZ4, CompressionType.ZSTD, CompressionType.Snappy, CompressionType.Zlib];
    private InProcessCluster _cluster = null!;
    private PulsarishClient _client = null!;
    private GrpcChannel _channel = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _cluster = await InProcessCluster.StartAsync();
        _client = _cluster.NewClient();
        _channel = GrpcChannel.ForAddress("http://" + _cluster.Address);
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        _channel.Dispose();
        await _client.DisposeAsync();
        await _cluster.DisposeAsync();
    }

    [TestCaseSource(nameof(Codecs))]
    public async Task EachCodecRoundTripsBatchesWithKeysAndProperties(CompressionType type)
    {
        string topic = $"codec-{type}-{Guid.NewGuid():N}";
        await using var consumer = await SubscribeAsync(topic, SubscriptionType.Exclusive);
        var sent = new List<OutgoingMessage>();
        await using (var producer = await _client.CreateProducerAsync(new ProducerOptions
        {
            Topic = topic, CompressionType = type, BatchingMaxPublishDelay = TimeSpan.FromMilliseconds(50),
        }))
        {
            var sends = new List<Task<MessageId>>();
            for (int i = 0; i < 60; i++)
            {
                var message = new OutgoingMessage(Encoding.UTF8.GetBytes($"{i}:" + new string('a', 1000)))
                {
                    Key = i % 7 == 6 ? null : $"key-{i % 3}",
                    Properties = new Dictionary<string, string> { ["index"] = i.ToString(), ["codec"] = type.ToString() },
                    EventTime = DateTimeOffset.FromUnixTimeMilliseconds(1_700_000_000_000 + i),
                };
                sent.Add(message);
                sends.Add(producer.SendAsync(message));
            }

            var ids = await Task.WhenAll(sends);
            Assert.That(ids.Any(id => id.BatchSize > 1), Is.True, "the sends were batched");
        }

        using var deadline = new CancellationTokenSource(Deadline);
        for (int i = 0; i < sent.Count; i++)
        {
            var m = await consumer.ReceiveAsync(deadline.Token);
            Assert.That(m.Payload.ToArray(), Is.EqualTo(sent[i].Payload.ToArray()), $"message {i} in order");
            Assert.That(m.Key, Is.EqualTo(sent[i].Key));
            Assert.That(m.Properties, Is.EquivalentTo(sent[i].Properties!));
            Assert.That(m.EventTime, Is.EqualTo(sent[i].EventTime));
            Assert.That(m.MessageId.BatchIndex, Is.LessThan(m.MessageId.BatchSize));
            await consumer.AcknowledgeAsync(m.MessageId);
        }

        // What the broker stored and delivers is the compressed batch, as the producer sent it.
        var stored = await ReadRawAsync(topic, "raw", deadline.Token);
        Assert.That(stored.Compressed, Is.Not.Null, "delivered compressed");
        Assert.That(stored.Compressed.Codec.ToString(), Is.EqualTo(type.ToString()).IgnoreCase);
        Assert.That(stored.Compressed.Data.Length, Is.LessThan(stored.Compressed.UncompressedSize / 4));
        Assert.That(stored.Payload.IsEmpty, Is.True);
    }

    [Test]
    public async Task MixedTopicOfCompressedAndUncompressedProducersReadsInOrder()
    {
        string topic = $"mixed-{Guid.NewGuid():N}";
        await using var consumer = await SubscribeAsync(topic, SubscriptionType.Failover);
        var producers = new List<Producer>();
        foreach (var type in new[] { CompressionType.None, CompressionType.LZ4, CompressionType.ZSTD, CompressionType.None, CompressionType.Snappy, CompressionType.Zlib })
        {
            producers.Add(await _client.CreateProducerAsync(new ProducerOptions { Topic = topic, CompressionType = type }));
        }

        int next = 0;
        for (int round = 0; round < 5; round++)
        {
            foreach (var producer in producers)
            {
                // A few messages per producer, each batch persisted before the next producer's: a known global order.
                var batch = Enumerable.Range(0, 4).Select(_ => producer.SendAsync(Encoding.UTF8.GetBytes($"{next++}|{new string('m', 200)}"))).ToArray();
                await Task.WhenAll(batch);
            }
        }

        foreach (var producer in producers)
        {
            await producer.DisposeAsync();
        }

        using var deadline = new CancellationTokenSource(Deadline);
        var received = new List<int>();
        while (received.Count < next)
        {
            var m = await consumer.ReceiveAsync(deadline.Token);
            received.Add(int.Parse(Encoding.UTF8.GetString(m.Payload.Span).Split('|')[0]));
        }

        Assert.That(received, Is.EqualTo(Enumerable.Range(0, next)));
    }

    [Test]
    public async Task ConsumerReadsABatchStoredInTheOldBrokerCompressedFormat()
    {
        string topic = $"legacy-{Guid.NewGuid():N}";
        await using var consumer = await SubscribeAsync(topic, SubscriptionType.Shared);
        // A send with the legacy SendRequest.compression: the broker compresses it itself into StoredBatch.compressed_messages,
        // the entry format written before client-side compression.
        foreach (var legacy in new[] { WireCompression.Gzip, WireCompression.Brotli })
        {
            var send = new SendRequest { SequenceId = legacy == WireCompression.Gzip ? 0 : 5, Compression = legacy };
            for (int i = 0; i < 5; i++)
            {
                send.Messages.Add(new ProducerMessage { Payload = ByteString.CopyFromUtf8($"{legacy}-{i}-" + new string('z', 300)), Key = $"k{i}", HasKey = true });
            }

            var answer = await SendRawAsync(topic, send);
            Assert.That(answer.ResponseCase, Is.EqualTo(ProduceResponse.ResponseOneofCase.Receipt), answer.ToString());
        }

        using var deadline = new CancellationTokenSource(Deadline);
        foreach (var legacy in new[] { WireCompression.Gzip, WireCompression.Brotli })
        {
            for (int i = 0; i < 5; i++)
            {
                var m = await consumer.ReceiveAsync(deadline.Token);
                Assert.That(Encoding.UTF8.GetString(m.Payload.Span), Does.StartWith($"{legacy}-{i}-"));
                Assert.That(m.Key, Is.EqualTo($"k{i}"));
                Assert.That(m.MessageId.BatchIndex, Is.EqualTo(i));
            }
        }
    }

    [Test]
    public async Task IndividuallyAckedMessagesOfACompressedBatchAreNotRedelivered()
    {
        string topic = $"batch-ack-{Guid.NewGuid():N}";
        await using var consumer = await SubscribeAsync(topic, SubscriptionType.Shared);
        await using (var producer = await _client.CreateProducerAsync(new ProducerOptions
        {
            Topic = topic, CompressionType = CompressionType.LZ4, BatchingMaxPublishDelay = TimeSpan.FromMilliseconds(200),
        }))
        {
            var ids = await Task.WhenAll(Enumerable.Range(0, 10).Select(i => producer.SendAsync(Encoding.UTF8.GetBytes($"m{i}"))));
            Assert.That(ids.Select(id => (id.LedgerId, id.EntryId)).Distinct().Count(), Is.EqualTo(1), "one batch entry");
        }

        using var deadline = new CancellationTokenSource(Deadline);
        var first = new List<Message>();
        for (int i = 0; i < 10; i++)
        {
            first.Add(await consumer.ReceiveAsync(deadline.Token));
        }

        Assert.That(first.Select(m => m.MessageId.BatchIndex), Is.EqualTo(Enumerable.Range(0, 10)));
        await consumer.AcknowledgeAsync(first.Where(m => m.MessageId.BatchIndex % 2 == 0).Select(m => m.MessageId));
        consumer.RedeliverUnacknowledgedMessages();

        var again = new List<Message>();
        for (int i = 0; i < 5; i++)
        {
            again.Add(await consumer.ReceiveAsync(deadline.Token));
        }

        Assert.That(again.Select(m => Encoding.UTF8.GetString(m.Payload.Span)), Is.EqualTo(new[] { "m1", "m3", "m5", "m7", "m9" }));
        Assert.That(again.Select(m => m.MessageId.BatchIndex), Is.EqualTo(new[] { 1, 3, 5, 7, 9 }));
        Assert.That(again.Select(m => m.SequenceId - first[0].SequenceId), Is.EqualTo(new long[] { 1, 3, 5, 7, 9 }));
        Assert.That(again.All(m => m.RedeliveryCount >= 1), Is.True);
        await consumer.AcknowledgeAsync(again.Select(m => m.MessageId));
        consumer.RedeliverUnacknowledgedMessages();
        using var quiet = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        Assert.ThrowsAsync(Is.InstanceOf<OperationCanceledException>(), async () => await consumer.ReceiveAsync(quiet.Token),
            "every message of the batch acknowledged: nothing more");
    }

    [Test]
    public async Task KeySharedRoutesCompressedBatchesByTheirKey()
    {
        string topic = $"key-shared-{Guid.NewGuid():N}";
        await using var a = await SubscribeAsync(topic, SubscriptionType.KeyShared);
        await using var b = await SubscribeAsync(topic, SubscriptionType.KeyShared);
        const int keys = 16, perKey = 10;
        await using (var producer = await _client.CreateProducerAsync(new ProducerOptions
        {
            Topic = topic, CompressionType = CompressionType.ZSTD, BatchingMaxPublishDelay = TimeSpan.FromMilliseconds(20),
        }))
        {
            for (int k = 0; k < keys; k++)
            {
                // One key per batch (Pulsar's key-based batching): the batch is routed by its key.
                await Task.WhenAll(Enumerable.Range(0, perKey).Select(i => producer.SendAsync(Encoding.UTF8.GetBytes($"{k}:{i}"), key: $"key-{k}")));
            }
        }

        using var deadline = new CancellationTokenSource(Deadline);
        var byConsumer = new[] { new List<Message>(), new List<Message>() };
        async Task DrainAsync(Consumer consumer, List<Message> into)
        {
            try
            {
                while (true)
                {
                    var m = await consumer.ReceiveAsync(deadline.Token);
                    lock (byConsumer)
                    {
                        into.Add(m);
                        if (byConsumer[0].Count + byConsumer[1].Count == keys * perKey)
                        {
                            deadline.CancelAfter(TimeSpan.FromSeconds(1));
                        }
                    }

                    await consumer.AcknowledgeAsync(m.MessageId);
                }
            }
            catch (OperationCanceledException)
            {
            }
        }

        await Task.WhenAll(DrainAsync(a, byConsumer[0]), DrainAsync(b, byConsumer[1]));
        Assert.That(byConsumer[0].Count + byConsumer[1].Count, Is.EqualTo(keys * perKey), "every message once");
        var keysA = byConsumer[0].Select(m => m.Key).ToHashSet();
        var keysB = byConsumer[1].Select(m => m.Key).ToHashSet();
        Assert.That(keysA.Overlaps(keysB), Is.False, "a key goes to one consumer only");
        Assert.That(keysA, Is.Not.Empty);
        Assert.That(keysB, Is.Not.Empty, "16 keys spread over both consumers' hash ranges");
        foreach (var list in byConsumer)
        {
            foreach (var group in list.GroupBy(m => m.Key))
            {
                Assert.That(group.Select(m => int.Parse(Encoding.UTF8.GetString(m.Payload.Span).Split(':')[1])), Is.Ordered, "per-key order");
            }
        }
    }

    [Test]
    public async Task CorruptCompressedBatchIsAClearConsumerErrorAndTheBrokerServesOn()
    {
        string topic = $"corrupt-{Guid.NewGuid():N}";
        await using var consumer = await SubscribeAsync(topic, SubscriptionType.Shared);
        var corrupt = new SendRequest
        {
            SequenceId = 0,
            Compressed = new CompressedBatch
            {
                Codec = WireCompression.Lz4, MessageCount = 3, UncompressedSize = 4096,
                Data = ByteString.CopyFrom(Enumerable.Range(0, 100).Select(i => (byte)(i * 91 + 0xF3)).ToArray()),
            },
        };
        Assert.That((await SendRawAsync(topic, corrupt)).ResponseCase, Is.EqualTo(ProduceResponse.ResponseOneofCase.Receipt),
            "the broker stores a compressed batch without decoding it");

        // A header the broker can check is refused at once.
        var badHeader = corrupt.Clone();
        badHeader.SequenceId = 1;
        badHeader.Compressed.MessageCount = 0;
        var refused = await SendRawAsync(topic, badHeader);
        Assert.That(refused.ResponseCase, Is.EqualTo(ProduceResponse.ResponseOneofCase.Error));
        Assert.That(refused.Error.Reason, Is.EqualTo(ErrorReason.BadRequest), refused.Error.Message);
        var clientCodecOnPlainMessages = new SendRequest { SequenceId = 2, Compression = WireCompression.Lz4, Messages = { new ProducerMessage() } };
        var refusedCodec = await SendRawAsync(topic, clientCodecOnPlainMessages);
        Assert.That(refusedCodec.ResponseCase, Is.EqualTo(ProduceResponse.ResponseOneofCase.Error));
        Assert.That(refusedCodec.Error.Reason, Is.EqualTo(ErrorReason.BadRequest), refusedCodec.Error.Message);

        await using (var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = topic, CompressionType = CompressionType.LZ4 }))
        {
            await producer.SendAsync("after the corrupt batch"u8.ToArray());
        }

        using var deadline = new CancellationTokenSource(Deadline);
        var error = Assert.ThrowsAsync<PulsarishClientException>(async () => await consumer.ReceiveAsync(deadline.Token));
        Assert.That(error!.ErrorReason, Is.EqualTo(ErrorReason.CorruptMessage));
        Assert.That(error.Message, Does.Contain("Lz4").And.Contain("corrupt"), error.Message);
        var next = await consumer.ReceiveAsync(deadline.Token);
        Assert.That(Encoding.UTF8.GetString(next.Payload.Span), Is.EqualTo("after the corrupt batch"));
        await consumer.AcknowledgeAsync(next.MessageId);

        // The corrupt batch was discarded (acknowledged), so it is not redelivered.
        consumer.RedeliverUnacknowledgedMessages();
        using var quiet = new CancellationTokenSource(TimeSpan.FromSeconds(1));
        Assert.ThrowsAsync(Is.InstanceOf<OperationCanceledException>(), async () => await consumer.ReceiveAsync(quiet.Token));
    }

    [Test]
    public async Task ReaderFromAnIdInsideACompressedBatchSkipsTheMessagesBeforeIt()
    {
        string topic = $"reader-{Guid.NewGuid():N}";
        MessageId[] ids;
        await using (var producer = await _client.CreateProducerAsync(new ProducerOptions
        {
            Topic = topic, CompressionType = CompressionType.Snappy, BatchingMaxPublishDelay = TimeSpan.FromMilliseconds(500), BatchingMaxMessages = 5,
        }))
        {
            ids = await Task.WhenAll(Enumerable.Range(0, 5).Select(i => producer.SendAsync(Encoding.UTF8.GetBytes($"b{i}"))));
        }

        Assert.That(ids.Select(id => (id.LedgerId, id.EntryId)).Distinct().Count(), Is.EqualTo(1), "one batch, one entry");
        using var deadline = new CancellationTokenSource(Deadline);
        await using var reader = await _client.CreateReaderAsync(new ReaderOptions { Topic = topic, StartMessageId = ids[2] });
        var first = await reader.ReadNextAsync(deadline.Token);
        var second = await reader.ReadNextAsync(deadline.Token);
        Assert.That(new[] { first, second }.Select(m => Encoding.UTF8.GetString(m!.Payload.Span)), Is.EqualTo(new[] { "b3", "b4" }));
    }

    [Test]
    public async Task CliProduceAndPerfProduceCompressWithTheGivenCodec()
    {
        string topic = $"cli-{Guid.NewGuid():N}";
        var produced = await PulsarishCli.RunSeparatelyAsync("produce", topic, "-m", "first", "-m", "second", "--compression", "lz4",
            "--service-url", _cluster.Address);
        Assert.That(produced.Code, Is.Zero, produced.Error);
        using var deadline = new CancellationTokenSource(Deadline);
        var stored = await ReadRawAsync(topic, "raw", deadline.Token);
        Assert.That(stored.Compressed?.Codec, Is.EqualTo(WireCompression.Lz4));
        await using (var consumer = await SubscribeAsync(topic, SubscriptionType.Exclusive))
        {
            Assert.That(Encoding.UTF8.GetString((await consumer.ReceiveAsync(deadline.Token)).Payload.Span), Is.EqualTo("first"));
            Assert.That(Encoding.UTF8.GetString((await consumer.ReceiveAsync(deadline.Token)).Payload.Span), Is.EqualTo("second"));
        }

        string perfTopic = $"cli-perf-{Guid.NewGuid():N}";
        var perf = await PulsarishCli.RunSeparatelyAsync("perf", "produce", perfTopic, "-r", "200", "-d", "1s", "-s", "100",
            "--compression", "zstd", "--json", "--service-url", _cluster.Address);
        Assert.That(perf.Code, Is.Zero, perf.Error);
        Assert.That((await ReadRawAsync(perfTopic, "raw", deadline.Token)).Compressed?.Codec, Is.EqualTo(WireCompression.Zstd));

        var bad = await PulsarishCli.RunSeparatelyAsync("produce", topic, "-m", "x", "--compression", "gzip", "--service-url", _cluster.Address);
        Assert.That(bad.Code, Is.Not.Zero, bad.Output + bad.Error);
        Assert.That(bad.Error, Does.Contain("gzip"));
    }

    private Task<Consumer> SubscribeAsync(string topic, SubscriptionType type) => _client.SubscribeAsync(new ConsumerOptions
    {
        Topic = topic, SubscriptionName = "sub", SubscriptionType = type, InitialPosition = SubscriptionInitialPosition.Earliest,
    });

    /// <summary>One send on a raw Produce stream (what an older or a misbehaving client sends).</summary>
    private async Task<ProduceResponse> SendRawAsync(string topic, SendRequest send)
    {
        var broker = new PulsarishBroker.PulsarishBrokerClient(_channel);
        using var call = broker.Produce(deadline: DateTime.UtcNow.Add(Deadline));
        await call.RequestStream.WriteAsync(new ProduceRequest { Open = new ProducerOpen { Topic = TopicNames.Complete(topic), ProducerName = $"raw-{send.SequenceId}-{Guid.NewGuid():N}" } });
        Assert.That(await call.ResponseStream.MoveNext(), Is.True);
        Assert.That(call.ResponseStream.Current.ResponseCase, Is.EqualTo(ProduceResponse.ResponseOneofCase.Opened), call.ResponseStream.Current.ToString());
        await call.RequestStream.WriteAsync(new ProduceRequest { Send = send });
        Assert.That(await call.ResponseStream.MoveNext(), Is.True);
        var answer = call.ResponseStream.Current;
        await call.RequestStream.CompleteAsync();
        return answer;
    }

    /// <summary>The first entry of the topic as the broker delivers it on a raw Consume stream.</summary>
    private async Task<ReceivedMessage> ReadRawAsync(string topic, string subscription, CancellationToken ct)
    {
        var broker = new PulsarishBroker.PulsarishBrokerClient(_channel);
        using var call = broker.Consume(cancellationToken: ct);
        await call.RequestStream.WriteAsync(new ConsumeRequest
        {
            Subscribe = new Subscribe { Topic = TopicNames.Complete(topic), Subscription = subscription, InitialPosition = InitialPosition.Earliest },
        }, ct);
        await call.RequestStream.WriteAsync(new ConsumeRequest { Flow = new Flow { Permits = 1000 } }, ct);
        while (await call.ResponseStream.MoveNext(ct))
        {
            if (call.ResponseStream.Current.ResponseCase == ConsumeResponse.ResponseOneofCase.Message)
            {
                return call.ResponseStream.Current.Message;
            }
        }

        throw new AssertionException("no message on the raw stream");
    }
}
