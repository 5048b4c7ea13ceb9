using System.Collections.Concurrent;
using System.Diagnostics;
using System.Text;
using Pulsarish.Protocol.Broker;
using Pulsarish.TestKit;

namespace Pulsarish.Client.Tests.Producers;

/// <summary>
/// ProducerOptions.SendTimeout against a real storage outage: every bookie of the broker is stopped, sends fail with
/// Timeout instead of hanging, and once the bookies are back the same producer is acknowledged again — with every
/// acknowledged message read back once, in send order.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class SendTimeoutTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(45);

    [Test]
    [CancelAfter(120_000)]
    public async Task SendsTimeOutWhileEveryBookieIsDownAndSucceedInOrderOnceTheyReturn()
    {
        await using var cluster = await BookieOutageCluster.StartAsync(bookies: 2);
        await using var client = cluster.NewClient();
        const string topic = "persistent://public/default/send-timeout";
        await using var consumer = await client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "check", InitialPosition = SubscriptionInitialPosition.Earliest,
        });
        await using var producer = await client.CreateProducerAsync(new ProducerOptions
        {
            Topic = topic, ProducerName = "timed", SendTimeout = TimeSpan.FromSeconds(2),
        });

        var acked = new ConcurrentQueue<int>();
        var failures = new ConcurrentQueue<PulsarishClientException>();
        using var stop = new CancellationTokenSource();
        var sending = Task.Run(async () =>
        {
            // Rounds of 5 sends in flight at once: a timeout fails a whole round, later rounds go on.
            for (int next = 0; !stop.IsCancellationRequested;)
            {
                var round = new List<(int Index, Task<MessageId> Sent)>();
                for (int i = 0; i < 5; i++, next++)
                {
                    round.Add((next, producer.SendAsync(Encoding.UTF8.GetBytes($"m-{next}"))));
                }

                foreach (var (index, sent) in round)
                {
                    try
                    {
                        await sent;
                        acked.Enqueue(index);
                    }
                    catch (PulsarishClientException e)
                    {
                        failures.Enqueue(e);
                    }
                }

                await Task.Delay(20);
            }
        });

        await Eventually.That(() => acked.Count >= 20, Patience, "sends are acknowledged before the outage");
        await cluster.StopBookiesAsync();
        var outage = Stopwatch.StartNew();
        TestContext.Progress.WriteLine("stopped every bookie");
        await Eventually.That(() => !failures.IsEmpty, Patience, "a send fails with the send timeout while the bookies are down");
        TestContext.Progress.WriteLine($"first send timeout {outage.ElapsedMilliseconds} ms into the outage");
        await Task.Delay(TimeSpan.FromSeconds(1));
        int ackedDuringOutage = acked.Count;

        await cluster.StartBookiesAsync();
        TestContext.Progress.WriteLine("bookies are back");
        await Eventually.That(() => acked.Count >= ackedDuringOutage + 20, Patience, "the same producer is acknowledged again");
        await stop.CancelAsync();
        await sending;

        Assert.That(failures.Select(f => f.ErrorReason), Is.All.EqualTo(ErrorReason.Timeout),
            "a send during the outage fails with the send timeout, nothing else");
        var expected = acked.ToHashSet();
        var received = new List<int>();
        await Eventually.That(async () =>
        {
            using var wait = new CancellationTokenSource(TimeSpan.FromSeconds(2));
            try
            {
                while (!expected.IsSubsetOf(received))
                {
                    var message = await consumer.ReceiveAsync(wait.Token);
                    received.Add(int.Parse(Encoding.UTF8.GetString(message.Payload.Span)[2..]));
                    await consumer.AcknowledgeAsync(message.MessageId);
                }
            }
            catch (OperationCanceledException)
            {
            }

            return expected.IsSubsetOf(received);
        }, Patience, "every acknowledged message is read back");

        TestContext.Progress.WriteLine($"{expected.Count} acknowledged, {failures.Count} timed out, {received.Count} read back");
        Assert.That(received, Is.Ordered, "messages are stored in send order (a timed-out send may be stored, never reordered)");
        Assert.That(received, Is.Unique, "no message is stored twice");
    }
}
