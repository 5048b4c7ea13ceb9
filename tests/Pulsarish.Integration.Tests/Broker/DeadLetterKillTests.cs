using System.Collections.Concurrent;
using System.Text;
using Pulsarish.Client;
using Pulsarish.TestKit;

namespace Pulsarish.Integration.Tests.Broker;

/// <summary>
/// The dead-letter move is exactly-once across a broker crash: a real <c>pulsarish standalone</c> process is killed
/// with SIGKILL after the dead-letter copy was persisted and before the original was acknowledged. After the restart
/// the original comes back, is moved again, and the dead-letter topic still holds exactly one copy.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class DeadLetterKillTests
{
    [Test]
    public async Task DeadLetterMoveInterruptedByKill9NeitherLosesNorDuplicates()
    {
        await using var standalone = await StandaloneProcess.StartAsync();
        string topic = $"persistent://public/default/dlq-kill-{Guid.NewGuid():N}";
        await using var client = new PulsarishClient(new PulsarishClientOptions
        {
            ServiceUrls = [standalone.Address],
            OperationTimeout = TimeSpan.FromSeconds(5),
            InitialReconnectDelay = TimeSpan.FromMilliseconds(100),
            MaxReconnectDelay = TimeSpan.FromSeconds(1),
        });
        await using var consumer = await client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "work", SubscriptionType = SubscriptionType.Shared,
            InitialPosition = SubscriptionInitialPosition.Earliest,
            NegativeAckRedeliveryDelay = TimeSpan.FromMilliseconds(100),
            DeadLetterPolicy = new DeadLetterPolicy { MaxRedeliverCount = 1 },
        });
        await using (var producer = await client.CreateProducerAsync(new ProducerOptions { Topic = topic, BatchingEnabled = false }))
        {
            await producer.SendAsync("poison"u8.ToArray());
        }

        int moves = 0;
        var killed = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        consumer.AfterDeadLetterWrite = _ =>
        {
            if (Interlocked.Increment(ref moves) == 1)
            {
                standalone.Kill9();   // the copy is persisted, the original not yet acknowledged
                killed.TrySetResult();
            }
            return Task.CompletedTask;
        };
        var deliveries = new ConcurrentQueue<int>();
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(90));
        var nacking = Task.Run(async () =>
        {
            while (!stop.IsCancellationRequested)
            {
                var message = await consumer.ReceiveAsync(stop.Token);
                deliveries.Enqueue(message.RedeliveryCount);
                consumer.NegativeAcknowledge(message);
            }
        });

        await killed.Task.WaitAsync(TimeSpan.FromSeconds(60));
        await standalone.RestartAsync();
        await Eventually.That(() => Volatile.Read(ref moves) >= 2, TimeSpan.FromSeconds(60),
            "after the restart the original is redelivered and moved again");
        // The second move acknowledges the original: no further delivery.
        await Task.Delay(TimeSpan.FromSeconds(2));
        int deliveredAfterMoves = deliveries.Count;
        await Task.Delay(TimeSpan.FromSeconds(1.5));
        Assert.That(deliveries.Count, Is.EqualTo(deliveredAfterMoves), "the original is acknowledged after the second move");
        stop.Cancel();
        Assert.That(async () => await nacking, Throws.InstanceOf<OperationCanceledException>());

        var copies = new List<Message>();
        await using (var dlq = await client.SubscribeAsync(new ConsumerOptions
        {
            Topic = consumer.DeadLetterTopic!, SubscriptionName = "inspect", InitialPosition = SubscriptionInitialPosition.Earliest,
        }))
        {
            while (true)
            {
                using var idle = new CancellationTokenSource(TimeSpan.FromSeconds(3));
                try
                {
                    copies.Add(await dlq.ReceiveAsync(idle.Token));
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }

        Assert.That(moves, Is.EqualTo(2), standalone.Log);
        Assert.That(copies.Select(m => Encoding.UTF8.GetString(m.Payload.Span)), Is.EqualTo(new[] { "poison" }),
            "exactly one copy in the dead-letter topic");
        Assert.That(copies[0].Properties[RetryMessageProperties.RealTopic], Is.EqualTo(topic));
    }
}
