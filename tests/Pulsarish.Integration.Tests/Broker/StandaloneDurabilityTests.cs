using System.Collections.Concurrent;
using System.Text;
using Pulsarish.Client;

namespace Pulsarish.Integration.Tests.Broker;

/// <summary>
/// DESIGN §3.4 / §8 end to end: a real <c>pulsarish standalone</c> process is killed with SIGKILL while a producer
/// publishes, then restarted on the same data directory. Every receipted message must still be there, messages whose
/// acknowledgement was persisted must not come back, and delivered-but-unacknowledged ones must be redelivered.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class StandaloneDurabilityTests
{
    private const int AckedCount = 500;
    private const int UnackedCount = 100;

    /// <summary>
    /// Acks are applied at once and the cursor is persisted asynchronously within the broker's cursor persist
    /// interval (1 s, Pulsar's mark-delete rate limit): wait beyond it before killing.
    /// </summary>
    private static readonly TimeSpan CursorPersistWait = TimeSpan.FromSeconds(2.5);

    [Test]
    public async Task ReceiptedMessagesAndAcknowledgementsSurviveKill9MidProduce()
    {
        await using var standalone = await StandaloneProcess.StartAsync();
        string topic = $"persistent://public/default/kill9-{Guid.NewGuid():N}";
        var receipted = new ConcurrentDictionary<string, MessageId>();
        var ackedPayloads = new HashSet<string>();
        var unackedPayloads = new HashSet<string>();

        var clientOptions = new PulsarishClientOptions
        {
            ServiceUrls = [standalone.Address],
            OperationTimeout = TimeSpan.FromSeconds(5),
        };
        await using (var client = new PulsarishClient(clientOptions))
        {
            // Subscribe first so the subscription starts before the first message.
            var consumer = await client.SubscribeAsync(new ConsumerOptions
            {
                Topic = topic, SubscriptionName = "durable", SubscriptionType = SubscriptionType.Exclusive,
                InitialPosition = SubscriptionInitialPosition.Earliest, ReceiverQueueSize = 100,
            });
            var producer = await client.CreateProducerAsync(new ProducerOptions
            {
                Topic = topic, ProducerName = "kill9-producer", MaxPendingMessages = 200,
            });
            using var stopProducing = new CancellationTokenSource();
            var producing = Task.Run(() => ProduceUntilStoppedAsync(producer, receipted, stopProducing.Token));

            for (int i = 0; i < AckedCount + UnackedCount; i++)
            {
                var message = await consumer.ReceiveAsync(new CancellationTokenSource(TimeSpan.FromSeconds(30)).Token);
                string text = Encoding.UTF8.GetString(message.Payload.Span);
                Assert.That(text, Is.EqualTo($"m-{i}"), "exclusive delivery is in publish order");
                if (i < AckedCount)
                {
                    await consumer.AcknowledgeAsync(message.MessageId);
                    ackedPayloads.Add(text);
                }
                else
                {
                    unackedPayloads.Add(text);
                }
            }

            await Task.Delay(CursorPersistWait);
            while (receipted.Count < AckedCount + UnackedCount + 200)
            {
                await Task.Delay(50);
            }

            standalone.Kill9();
            TestContext.Progress.WriteLine($"killed with {receipted.Count} receipted messages");
            stopProducing.Cancel();
            await producing;
        }

        int receiptedAtKill = receipted.Count;
        await standalone.RestartAsync();

        var seen = new List<Message>();
        await using (var client = new PulsarishClient(standalone.Address))
        {
            await using var consumer = await client.SubscribeAsync(new ConsumerOptions
            {
                Topic = topic, SubscriptionName = "durable", SubscriptionType = SubscriptionType.Exclusive,
                InitialPosition = SubscriptionInitialPosition.Earliest,
            });
            while (true)
            {
                using var idle = new CancellationTokenSource(TimeSpan.FromSeconds(3));
                try
                {
                    var message = await consumer.ReceiveAsync(idle.Token);
                    seen.Add(message);
                    await consumer.AcknowledgeAsync(message.MessageId);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }

        var seenPayloads = seen.Select(m => Encoding.UTF8.GetString(m.Payload.Span)).ToList();
        var seenSet = seenPayloads.ToHashSet();
        Assert.Multiple(() =>
        {
            Assert.That(seenSet.Overlaps(ackedPayloads), Is.False,
                $"acknowledged messages redelivered: {string.Join(",", seenSet.Intersect(ackedPayloads).Take(5))}");
            Assert.That(unackedPayloads.IsSubsetOf(seenSet), Is.True, "delivered-but-unacknowledged messages come back");
            var lost = receipted.Keys.Where(p => !ackedPayloads.Contains(p) && !seenSet.Contains(p)).ToList();
            Assert.That(lost, Is.Empty, $"receipted messages lost ({lost.Count} of {receiptedAtKill}): {string.Join(",", lost.Take(5))}");
            Assert.That(seenPayloads.Count, Is.EqualTo(seenSet.Count), "no message delivered twice after the restart");
            var order = seenPayloads.Select(p => int.Parse(p[2..])).ToList();
            Assert.That(order, Is.Ordered, "redelivery after restart keeps publish order");
        });
    }

    private static async Task ProduceUntilStoppedAsync(Producer producer,
        ConcurrentDictionary<string, MessageId> receipted, CancellationToken stop)
    {
        var sends = new List<Task>();
        for (int i = 0; !stop.IsCancellationRequested; i++)
        {
            string text = $"m-{i}";
            var send = producer.SendAsync(Encoding.UTF8.GetBytes(text), ct: stop);
            sends.Add(send.ContinueWith(t =>
            {
                if (t.IsCompletedSuccessfully)
                {
                    receipted[text] = t.Result;
                }
            }, TaskScheduler.Default));
            try
            {
                // Keep the window full without spinning: wait when the producer pushes back.
                await Task.WhenAny(send, Task.Delay(1, stop));
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }

        await Task.WhenAll(sends);
    }
}
