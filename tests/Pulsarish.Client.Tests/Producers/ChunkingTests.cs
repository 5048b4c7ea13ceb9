using System.Security.Cryptography;
using System.Text;
using Google.Protobuf;
using Grpc.Net.Client;
using Pulsarish.Protocol.Broker;
using Pulsarish.TestKit;

namespace Pulsarish.Client.Tests.Producers;

/// <summary>
/// Chunking: a message above the broker's max message size (5 MiB by default) is split into chunks, each its own
/// entry, and the consumer delivers it whole under one id that acknowledges every chunk; a producer gone mid-message
/// leaves no partial message, and its chunks expire and are acknowledged.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class ChunkingTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(45);
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
    [CancelAfter(90_000)]
    public async Task A20MiBMessageArrivesIntactThroughA5MiBMaxMessageSize()
    {
        string topic = $"persistent://public/default/chunked-{Guid.NewGuid():N}";
        await using var consumer = await _client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "sub", InitialPosition = SubscriptionInitialPosition.Earliest,
        });
        await using var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = topic, EnableChunking = true });
        var big = new byte[20 * 1024 * 1024];
        TestSeed.NewRandom().NextBytes(big);
        var properties = new Dictionary<string, string> { ["kind"] = "big" };

        var small = await producer.SendAsync(Encoding.UTF8.GetBytes("before"));
        var bigId = await producer.SendAsync(big, "big-key", properties);
        var after = await producer.SendAsync(Encoding.UTF8.GetBytes("after"));
        Assert.That(bigId.EntryId, Is.GreaterThanOrEqualTo(small.EntryId + 4), "the 20 MiB message took at least 4 entries");

        using var receive = new CancellationTokenSource(Patience);
        var first = await consumer.ReceiveAsync(receive.Token);
        var whole = await consumer.ReceiveAsync(receive.Token);
        var last = await consumer.ReceiveAsync(receive.Token);
        Assert.That(Encoding.UTF8.GetString(first.Payload.Span), Is.EqualTo("before"));
        Assert.That(whole.Payload.Length, Is.EqualTo(big.Length));
        Assert.That(SHA256.HashData(whole.Payload.Span), Is.EqualTo(SHA256.HashData(big)), "payload hash");
        Assert.That(whole.Key, Is.EqualTo("big-key"));
        Assert.That(whole.Properties, Is.EquivalentTo(properties));
        Assert.That(whole.MessageId, Is.EqualTo(bigId), "the message id is its last chunk's, as the producer got it");
        Assert.That(Encoding.UTF8.GetString(last.Payload.Span), Is.EqualTo("after"));

        await consumer.AcknowledgeAsync([first.MessageId, whole.MessageId, last.MessageId]);
        await Eventually.That(async () => await BacklogAsync(topic, "sub") == 0, Patience,
            "acknowledging the chunked message acknowledged all its chunks");
    }

    [Test]
    [CancelAfter(90_000)]
    public async Task AProducerGoneMidMessageLeavesNoPartialMessageAndLaterMessagesFlow()
    {
        string topic = $"persistent://public/default/chunk-killed-{Guid.NewGuid():N}";
        await using var consumer = await _client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "sub", InitialPosition = SubscriptionInitialPosition.Earliest,
            ExpireTimeOfIncompleteChunkedMessage = TimeSpan.FromSeconds(2),
        });

        // A producer that sends 3 of the 6 chunks of a message, each acknowledged, then its stream dies.
        await SendRawChunksAsync(topic, "dies", [("dies-0", 0, 6), ("dies-0", 1, 6), ("dies-0", 2, 6)]);

        await using var producer = await _client.CreateProducerAsync(new ProducerOptions
        {
            Topic = topic, EnableChunking = true, ChunkMaxMessageSize = 4096,
        });
        var later = new byte[10_000];
        TestSeed.NewRandom().NextBytes(later);
        await producer.SendAsync(Encoding.UTF8.GetBytes("next"));
        await producer.SendAsync(later);

        using var receive = new CancellationTokenSource(Patience);
        var next = await consumer.ReceiveAsync(receive.Token);
        var chunked = await consumer.ReceiveAsync(receive.Token);
        Assert.That(Encoding.UTF8.GetString(next.Payload.Span), Is.EqualTo("next"), "the partial message is never delivered");
        Assert.That(chunked.Payload.ToArray(), Is.EqualTo(later), "a later chunked message arrives whole");
        await consumer.AcknowledgeAsync([next.MessageId, chunked.MessageId]);

        // The dead producer's chunks expire (2 s here) and are acknowledged: nothing is left in the backlog.
        await Eventually.That(async () => await BacklogAsync(topic, "sub") == 0, Patience,
            "the incomplete message's chunks expired and were acknowledged");
        using var quiet = new CancellationTokenSource(TimeSpan.FromMilliseconds(500));
        Assert.That(async () => await consumer.ReceiveAsync(quiet.Token), Throws.InstanceOf<OperationCanceledException>(),
            "nothing else is delivered");
    }

    [Test]
    [CancelAfter(90_000)]
    public async Task TheOldestIncompleteMessageIsDroppedForRoomAndItsStrayChunksExpire()
    {
        string topic = $"persistent://public/default/chunk-room-{Guid.NewGuid():N}";
        await using var consumer = await _client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "sub", InitialPosition = SubscriptionInitialPosition.Earliest,
            MaxPendingChunkedMessage = 2, AutoAckOldestChunkedMessageOnQueueFull = true,
            ExpireTimeOfIncompleteChunkedMessage = TimeSpan.FromSeconds(2),
        });

        // Three messages of 2 chunks interleaved: starting c drops a (the oldest) with room for 2; a's second chunk
        // then has no first chunk and is acknowledged once older than the expiry time.
        await SendRawChunksAsync(topic, "interleaved",
            [("a", 0, 2), ("b", 0, 2), ("c", 0, 2), ("a", 1, 2), ("b", 1, 2), ("c", 1, 2)]);

        using var receive = new CancellationTokenSource(Patience);
        var first = await consumer.ReceiveAsync(receive.Token);
        var second = await consumer.ReceiveAsync(receive.Token);
        Assert.That(new[] { first, second }.Select(m => m.Payload.Span[0]), Is.EqualTo(new[] { (byte)'b', (byte)'c' }),
            "b and c arrive whole; a was dropped for room");
        Assert.That(first.Payload.Length, Is.EqualTo(2000));
        await consumer.AcknowledgeAsync([first.MessageId, second.MessageId]);
        await Eventually.That(async () => await BacklogAsync(topic, "sub") == 0, Patience,
            "a's chunks were acknowledged: the dropped one at once, the stray one after the expiry time");
    }

    /// <summary>
    /// A raw producer (the wire protocol, no SDK) that sends the given chunks of 1000 bytes each — payload bytes all
    /// equal to the uuid's first character — one send each, waits for each receipt, then its stream ends.
    /// </summary>
    private async Task SendRawChunksAsync(string topic, string producerName, (string Uuid, int ChunkId, int NumChunks)[] chunks)
    {
        using var channel = GrpcChannel.ForAddress($"http://{_cluster.Address}");
        var broker = new PulsarishBroker.PulsarishBrokerClient(channel);
        using var call = broker.Produce();
        await call.RequestStream.WriteAsync(new ProduceRequest { Open = new ProducerOpen { Topic = topic, ProducerName = producerName } });
        Assert.That(await call.ResponseStream.MoveNext(CancellationToken.None), Is.True);
        Assert.That(call.ResponseStream.Current.ResponseCase, Is.EqualTo(ProduceResponse.ResponseOneofCase.Opened));
        for (int i = 0; i < chunks.Length; i++)
        {
            var (uuid, chunkId, numChunks) = chunks[i];
            var payload = new byte[1000];
            Array.Fill(payload, (byte)uuid[0]);
            var send = new SendRequest { SequenceId = i };
            send.Messages.Add(new ProducerMessage
            {
                Payload = ByteString.CopyFrom(payload),
                Chunk = new ChunkInfo { Uuid = uuid, ChunkId = chunkId, NumChunks = numChunks, TotalSize = numChunks * 1000 },
            });
            await call.RequestStream.WriteAsync(new ProduceRequest { Send = send });
            Assert.That(await call.ResponseStream.MoveNext(CancellationToken.None), Is.True);
            Assert.That(call.ResponseStream.Current.ResponseCase, Is.EqualTo(ProduceResponse.ResponseOneofCase.Receipt));
        }
    }

    private async Task<long> BacklogAsync(string topic, string subscription)
    {
        var loaded = await _cluster.Cluster.Broker.Service.GetOrLoadTopicAsync(topic);
        return loaded.Subscriptions[subscription].Cursor.Backlog;
    }
}
