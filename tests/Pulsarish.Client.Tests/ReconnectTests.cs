using System.Collections.Concurrent;
using System.Text;
using Grpc.Core;
using Grpc.Net.Client;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Client.Tests;

/// <summary>
/// DESIGN.md §7–§8: after a broker restart the SDK looks the topic up again, reconnects with backoff and resends
/// every unreceipted batch with its original sequence ids; the broker's de-duplication drops what it already had,
/// so each message is stored exactly once and in order. Consumers resubscribe and get the unacknowledged rest.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class ReconnectTests
{
    private const int MessageCount = 3_000;

    [Test]
    public async Task IdleProducerReattachesAsSoonAsItsTopicIsUnloaded()
    {
        await using var cluster = await InProcessCluster.StartAsync();
        await using var client = cluster.NewClient();
        string topic = $"persistent://public/default/unload-{Guid.NewGuid():N}";
        await using var producer = await client.CreateProducerAsync(new ProducerOptions { Topic = topic, ProducerName = "idle" });
        await producer.SendAsync(Encoding.UTF8.GetBytes("before"));
        var broker = cluster.Cluster.Broker.Service;

        await broker.UnloadTopicAsync(topic);

        // No send happens: the broker ended the stream, so the producer looks the topic up and opens it again.
        var deadline = DateTime.UtcNow.AddSeconds(15);
        bool reattached = false;
        while (!reattached && DateTime.UtcNow < deadline)
        {
            await Task.Delay(100);
            if (broker.LoadedTopics.Contains(topic))
            {
                var stats = await broker.GetStatsAsync(topic);
                reattached = stats.Publishers.Any(p => p.Name == "idle");
            }
        }

        Assert.That(reattached, Is.True, "the idle producer is attached to the reloaded topic without sending");
        await producer.SendAsync(Encoding.UTF8.GetBytes("after"));
        await using var consumer = await client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "check", InitialPosition = SubscriptionInitialPosition.Earliest,
        });
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(20));
        Assert.That(Encoding.UTF8.GetString((await consumer.ReceiveAsync(timeout.Token)).Payload.Span), Is.EqualTo("before"));
        Assert.That(Encoding.UTF8.GetString((await consumer.ReceiveAsync(timeout.Token)).Payload.Span), Is.EqualTo("after"));
    }

    [Test]
    public async Task ResendAfterBrokerRestartIsDeduplicated()
    {
        await using var cluster = await InProcessCluster.StartAsync();
        await using var client = cluster.NewClient();
        string topic = $"resend-{Guid.NewGuid():N}";
        await using var producer = await client.CreateProducerAsync(new ProducerOptions
        {
            Topic = topic, ProducerName = "resender", MaxPendingMessages = 500,
            BatchingMaxMessages = 50,
        });

        var ids = new ConcurrentBag<MessageId>();
        int completed = 0;
        var sending = Task.Run(async () =>
        {
            var sends = new List<Task<MessageId>>(MessageCount);
            for (int i = 0; i < MessageCount; i++)
            {
                var send = producer.SendAsync(Encoding.UTF8.GetBytes(i.ToString()));
                _ = send.ContinueWith(_ => Interlocked.Increment(ref completed), TaskScheduler.Default);
                sends.Add(send);
                if (i % 20 == 0)
                {
                    await Task.Delay(5);
                }
            }

            foreach (var id in await Task.WhenAll(sends))
            {
                ids.Add(id);
            }
        });

        while (Volatile.Read(ref completed) < MessageCount / 4)
        {
            await Task.Delay(10);
        }

        int completedBeforeRestart = Volatile.Read(ref completed);
        await cluster.Cluster.RestartBrokerAsync();
        await sending.WaitAsync(TimeSpan.FromSeconds(60));
        int duplicates = ids.Count(id => id.LedgerId < 0);
        TestContext.Progress.WriteLine($"{completedBeforeRestart} receipted before the restart, {duplicates} resends answered as duplicates");
        Assert.That(completedBeforeRestart, Is.LessThan(MessageCount), "the restart happened mid-produce");
        Assert.That(ids, Has.Count.EqualTo(MessageCount), "every send completed after the reconnect");

        await using var consumer = await client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "check", InitialPosition = SubscriptionInitialPosition.Earliest,
        });
        var received = new List<int>();
        while (true)
        {
            using var idle = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            try
            {
                var message = await consumer.ReceiveAsync(idle.Token);
                received.Add(int.Parse(Encoding.UTF8.GetString(message.Payload.Span)));
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        Assert.That(received, Is.EqualTo(Enumerable.Range(0, MessageCount)),
            "stored exactly once each, in send order, despite the resend");
    }

    [Test]
    public async Task ConsumerResubscribesAfterBrokerRestartAndGetsTheRest()
    {
        await using var cluster = await InProcessCluster.StartAsync();
        await using var client = cluster.NewClient();
        string topic = $"resubscribe-{Guid.NewGuid():N}";
        await using var consumer = await client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "s", SubscriptionType = SubscriptionType.Failover,
            InitialPosition = SubscriptionInitialPosition.Earliest, ReceiverQueueSize = 20,
        });
        // One entry per message: acknowledgements of part of a batch entry are not persisted (as in Pulsar without
        // batch-index acknowledgement), so a whole partly acknowledged batch would legitimately come back.
        await using var producer = await client.CreateProducerAsync(new ProducerOptions { Topic = topic, BatchingEnabled = false });
        await Task.WhenAll(Enumerable.Range(0, 200).Select(i => producer.SendAsync(Encoding.UTF8.GetBytes(i.ToString()))));

        var acked = new HashSet<int>();
        for (int i = 0; i < 100; i++)
        {
            var m = await consumer.ReceiveAsync(new CancellationTokenSource(TimeSpan.FromSeconds(20)).Token);
            await consumer.AcknowledgeAsync(m.MessageId);
            acked.Add(int.Parse(Encoding.UTF8.GetString(m.Payload.Span)));
        }

        await cluster.Cluster.RestartBrokerAsync();

        var rest = new HashSet<int>();
        using var deadline = new CancellationTokenSource(TimeSpan.FromSeconds(60));
        while (rest.Count < 100)
        {
            var m = await consumer.ReceiveAsync(deadline.Token);
            int value = int.Parse(Encoding.UTF8.GetString(m.Payload.Span));
            Assert.That(acked, Does.Not.Contain(value), "acknowledged before a graceful restart: never again");
            rest.Add(value);
            try
            {
                await consumer.AcknowledgeAsync(m.MessageId);
            }
            catch (PulsarishClientException e) when (e.IsRetriable)
            {
                // Acked during a reconnect: it comes back and is acked then.
            }
        }

        Assert.That(rest, Is.EquivalentTo(Enumerable.Range(100, 100)));
    }

    [Test]
    public async Task ResentSequenceIdsAreAnsweredAsDuplicatesAndStoredOnce()
    {
        await using var cluster = await InProcessCluster.StartAsync();
        string topic = $"persistent://public/default/dedup-{Guid.NewGuid():N}";
        using var channel = GrpcChannel.ForAddress("http://" + cluster.Address);
        var broker = new PulsarishBroker.PulsarishBrokerClient(channel);

        // First connection: sequence ids 0..9 persisted.
        var first = await OpenAsync(broker, topic);
        Assert.That(first.Opened.LastSequenceId, Is.EqualTo(-1));
        for (int seq = 0; seq < 10; seq++)
        {
            var receipt = await SendAsync(first.Call, seq);
            Assert.That(receipt.Receipt.Duplicate, Is.False);
        }

        // Close the first stream and wait until the broker ended it (the producer name is free again).
        await first.Call.RequestStream.CompleteAsync();
        Assert.That(await first.Call.ResponseStream.MoveNext(), Is.False);
        first.Call.Dispose();

        // Reconnect under the same name: the broker reports 9 and drops a resend of 5..9, accepts 10.
        var second = await OpenAsync(broker, topic);
        Assert.That(second.Opened.LastSequenceId, Is.EqualTo(9));
        for (int seq = 5; seq < 10; seq++)
        {
            var resent = await SendAsync(second.Call, seq);
            Assert.That(resent.Receipt.Duplicate, Is.True, $"sequence id {seq} was persisted before");
        }

        Assert.That((await SendAsync(second.Call, 10)).Receipt.Duplicate, Is.False);
        await second.Call.RequestStream.CompleteAsync();
        second.Call.Dispose();

        await using var client = cluster.NewClient();
        await using var consumer = await client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "dedup", InitialPosition = SubscriptionInitialPosition.Earliest,
        });
        var seen = new List<long>();
        while (true)
        {
            using var idle = new CancellationTokenSource(TimeSpan.FromSeconds(1));
            try
            {
                seen.Add((await consumer.ReceiveAsync(idle.Token)).SequenceId);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        Assert.That(seen, Is.EqualTo(Enumerable.Range(0, 11).Select(i => (long)i)));
    }

    private static async Task<(Grpc.Core.AsyncDuplexStreamingCall<ProduceRequest, ProduceResponse> Call, ProducerOpened Opened)> OpenAsync(
        PulsarishBroker.PulsarishBrokerClient broker, string topic)
    {
        var call = broker.Produce();
        await call.RequestStream.WriteAsync(new ProduceRequest { Open = new ProducerOpen { Topic = topic, ProducerName = "dedup" } });
        Assert.That(await call.ResponseStream.MoveNext(), Is.True);
        return (call, call.ResponseStream.Current.Opened);
    }

    private static async Task<ProduceResponse> SendAsync(Grpc.Core.AsyncDuplexStreamingCall<ProduceRequest, ProduceResponse> call, long seq)
    {
        var send = new SendRequest { SequenceId = seq };
        send.Messages.Add(new ProducerMessage { Payload = Google.Protobuf.ByteString.CopyFromUtf8($"m{seq}") });
        await call.RequestStream.WriteAsync(new ProduceRequest { Send = send });
        Assert.That(await call.ResponseStream.MoveNext(), Is.True);
        Assert.That(call.ResponseStream.Current.Receipt.SequenceId, Is.EqualTo(seq));
        return call.ResponseStream.Current;
    }
}
