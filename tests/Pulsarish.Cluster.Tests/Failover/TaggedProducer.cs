using System.Collections.Concurrent;
using System.Globalization;
using System.Text;
using Pulsarish.Client;

namespace Pulsarish.Cluster.Tests.Failover;

/// <summary>
/// A producer sending "name:0", "name:1", … in the background with a bounded window; remembers which sequence
/// numbers were acknowledged, so that a later read of the topic can check nothing acknowledged is lost and each
/// producer's order holds.
/// </summary>
internal sealed class TaggedProducer
{
    private const int Window = 20;
    private readonly Producer _producer;
    private readonly CancellationTokenSource _stop = new();
    private Task _loop = Task.CompletedTask;
    private int _failures;

    private TaggedProducer(string topic, string name, Producer producer)
    {
        Topic = topic;
        Name = name;
        _producer = producer;
    }

    public string Topic { get; }

    public string Name { get; }

    /// <summary>Sequence numbers acknowledged to this producer.</summary>
    public ConcurrentQueue<long> Acked { get; } = new();

    /// <summary>When (<see cref="System.Diagnostics.Stopwatch.GetTimestamp"/>) each acknowledgement arrived, in arrival order.</summary>
    public ConcurrentQueue<long> AckTimestamps { get; } = new();

    public int Failures => Volatile.Read(ref _failures);

    public static async Task<TaggedProducer> StartAsync(PulsarishClient client, string topic, string name)
    {
        var producer = await client.CreateProducerAsync(new ProducerOptions { Topic = topic, ProducerName = name });
        var tagged = new TaggedProducer(topic, name, producer);
        tagged._loop = Task.Run(() => tagged.SendLoopAsync(tagged._stop.Token));
        return tagged;
    }

    /// <summary>Stops sending, waits (bounded) for every outstanding send to settle and closes the producer.</summary>
    public async Task StopAsync(TimeSpan settle)
    {
        _stop.Cancel();
        try
        {
            await _loop.WaitAsync(settle);
        }
        finally
        {
            await _producer.DisposeAsync().AsTask().WaitAsync(TimeSpan.FromSeconds(30));
        }
    }

    private async Task SendLoopAsync(CancellationToken stop)
    {
        var pending = new List<Task>();
        for (long seq = 0; !stop.IsCancellationRequested; seq++)
        {
            long current = seq;
            pending.Add(_producer.SendAsync(Encoding.UTF8.GetBytes(Name + ":" + current.ToString(CultureInfo.InvariantCulture)))
                .ContinueWith(t =>
                {
                    if (t.IsCompletedSuccessfully)
                    {
                        AckTimestamps.Enqueue(System.Diagnostics.Stopwatch.GetTimestamp());
                        Acked.Enqueue(current);
                    }
                    else Interlocked.Increment(ref _failures);
                }, TaskScheduler.Default));
            while (pending.Count >= Window && !stop.IsCancellationRequested)
            {
                await Task.WhenAny(Task.WhenAny(pending), Task.Delay(Timeout.Infinite, stop)).ConfigureAwait(false);
                pending.RemoveAll(p => p.IsCompleted);
            }
            await Task.Delay(10, CancellationToken.None);
        }
        await Task.WhenAll(pending);
    }

    /// <summary>
    /// Reads <paramref name="topic"/> from the start with a fresh subscription until every acknowledged message of
    /// <paramref name="producers"/> was seen; asserts per-producer order (duplicates aside) and that nothing
    /// acknowledged is missing. Returns the number of duplicates.
    /// </summary>
    public static async Task<int> VerifyTopicAsync(PulsarishClient client, string topic, IReadOnlyList<TaggedProducer> producers)
    {
        var expected = producers.ToDictionary(p => p.Name, p => p.Acked.ToHashSet());
        var remaining = expected.Sum(e => e.Value.Count);
        var last = producers.ToDictionary(p => p.Name, _ => -1L);
        var seen = producers.ToDictionary(p => p.Name, _ => new HashSet<long>());
        int duplicates = 0;
        await using var consumer = await client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "verify-" + Guid.NewGuid().ToString("N")[..8],
            InitialPosition = SubscriptionInitialPosition.Earliest,
        });
        using var timeout = new CancellationTokenSource(TimeSpan.FromSeconds(30));
        while (remaining > 0)
        {
            Message message;
            try
            {
                message = await consumer.ReceiveAsync(timeout.Token);
            }
            catch (OperationCanceledException)
            {
                var missing = expected.SelectMany(e => e.Value.Except(seen[e.Key]).Select(s => $"{e.Key}:{s}")).Take(20);
                Assert.Fail($"{topic}: acknowledged messages missing after 30 s, e.g. {string.Join(", ", missing)}");
                throw;
            }
            string text = Encoding.UTF8.GetString(message.Payload.Span);
            int colon = text.LastIndexOf(':');
            string name = text[..colon];
            long seq = long.Parse(text[(colon + 1)..], CultureInfo.InvariantCulture);
            Assert.That(last.ContainsKey(name), Is.True, $"{topic}: message '{text}' from an unknown producer");
            if (!seen[name].Add(seq))
            {
                duplicates++;
                continue;
            }
            Assert.That(seq, Is.GreaterThan(last[name]), $"{topic}: {name}'s message {seq} after {last[name]} breaks its order");
            last[name] = seq;
            if (expected[name].Contains(seq)) remaining--;
        }
        return duplicates;
    }

    /// <summary>Asks <paramref name="broker"/> itself who owns <paramref name="topic"/> (no redirect following).</summary>
    public static async Task<string?> LookupOnAsync(string broker, string topic)
    {
        try
        {
            using var channel = Grpc.Net.Client.GrpcChannel.ForAddress("http://" + broker);
            var answer = await new Protocol.Broker.PulsarishBroker.PulsarishBrokerClient(channel)
                .LookupAsync(new Protocol.Broker.LookupRequest { Topic = topic }, deadline: DateTime.UtcNow.AddSeconds(5));
            return answer.BrokerAddress;
        }
        catch (Grpc.Core.RpcException)
        {
            return null;
        }
    }
}
