using System.Text;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Client.Tests.Producers;

/// <summary>Producer access modes WaitForExclusive and ExclusiveWithFencing through the SDK against a real cluster.</summary>
[TestFixture]
[NonParallelizable]
public sealed class AccessModeTests
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
    [CancelAfter(60_000)]
    public async Task WaitForExclusiveWaitsUntilTheExclusiveProducerGoesThenPublishes()
    {
        string topic = $"wait-exclusive-{Guid.NewGuid():N}";
        await using var consumer = await _client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "sub", InitialPosition = SubscriptionInitialPosition.Earliest,
        });
        var first = await _client.CreateProducerAsync(new ProducerOptions { Topic = topic, AccessMode = ProducerAccessMode.Exclusive });
        await first.SendAsync(Encoding.UTF8.GetBytes("from-first"));

        var waiting = _client.CreateProducerAsync(new ProducerOptions { Topic = topic, AccessMode = ProducerAccessMode.WaitForExclusive });
        // Longer than nothing, shorter than the operation timeout: the open is parked at the broker, not refused.
        await Task.Delay(TimeSpan.FromSeconds(1));
        Assert.That(waiting.IsCompleted, Is.False, "WaitForExclusive waits while another producer holds the topic");
        var busy = Assert.ThrowsAsync<PulsarishClientException>(async () =>
            await _client.CreateProducerAsync(new ProducerOptions { Topic = topic, AccessMode = ProducerAccessMode.Exclusive }));
        Assert.That(busy!.ErrorReason, Is.EqualTo(ErrorReason.ProducerBusy));

        await first.DisposeAsync();
        await using var second = await waiting.WaitAsync(Patience);
        await second.SendAsync(Encoding.UTF8.GetBytes("from-second"));
        var shared = Assert.ThrowsAsync<PulsarishClientException>(async () =>
            await _client.CreateProducerAsync(new ProducerOptions { Topic = topic }));
        Assert.That(shared!.ErrorReason, Is.EqualTo(ErrorReason.ProducerBusy), "the waiter is now the exclusive producer");

        using var receive = new CancellationTokenSource(Patience);
        var texts = new[]
        {
            Encoding.UTF8.GetString((await consumer.ReceiveAsync(receive.Token)).Payload.Span),
            Encoding.UTF8.GetString((await consumer.ReceiveAsync(receive.Token)).Payload.Span),
        };
        Assert.That(texts, Is.EqualTo(new[] { "from-first", "from-second" }));
    }

    [Test]
    [CancelAfter(60_000)]
    public async Task ExclusiveWithFencingFencesTheOldProducerWhichDoesNotReconnect()
    {
        string topic = $"fencing-{Guid.NewGuid():N}";
        await using var consumer = await _client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "sub", InitialPosition = SubscriptionInitialPosition.Earliest,
        });
        await using var old = await _client.CreateProducerAsync(new ProducerOptions { Topic = topic, ProducerName = "old" });
        await old.SendAsync(Encoding.UTF8.GetBytes("old-1"));

        await using var taker = await _client.CreateProducerAsync(new ProducerOptions
        {
            Topic = topic, ProducerName = "taker", AccessMode = ProducerAccessMode.ExclusiveWithFencing,
        });
        var fenced = Assert.ThrowsAsync<PulsarishClientException>(async () => await old.SendAsync(Encoding.UTF8.GetBytes("old-2")));
        Assert.That(fenced!.ErrorReason, Is.EqualTo(ErrorReason.ProducerFenced));
        await taker.SendAsync(Encoding.UTF8.GetBytes("taker-1"));

        // The fenced producer stays fenced: it neither reconnects nor takes the topic back.
        await Task.Delay(TimeSpan.FromSeconds(1));
        var again = Assert.ThrowsAsync<PulsarishClientException>(async () => await old.SendAsync(Encoding.UTF8.GetBytes("old-3")));
        Assert.That(again!.ErrorReason, Is.EqualTo(ErrorReason.ProducerFenced));
        await taker.SendAsync(Encoding.UTF8.GetBytes("taker-2"));
        var shared = Assert.ThrowsAsync<PulsarishClientException>(async () =>
            await _client.CreateProducerAsync(new ProducerOptions { Topic = topic }));
        Assert.That(shared!.ErrorReason, Is.EqualTo(ErrorReason.ProducerBusy));

        using var receive = new CancellationTokenSource(Patience);
        var texts = new List<string>();
        for (int i = 0; i < 3; i++)
        {
            texts.Add(Encoding.UTF8.GetString((await consumer.ReceiveAsync(receive.Token)).Payload.Span));
        }

        Assert.That(texts, Is.EqualTo(new[] { "old-1", "taker-1", "taker-2" }));
    }
}
