using System.CommandLine;
using System.Diagnostics;
using Pulsarish.Client;

namespace Pulsarish.Cli;

/// <summary>
/// <c>pulsarish perf consume TOPIC</c>, like pulsar-perf consume: N consumers on one subscription receive and
/// acknowledge; every interval it prints msg/s, MB/s and end-to-end latency (broker publish time → receive), and at
/// the end the aggregate (or JSON). <c>--num-topics N</c> reads TOPIC-0 … TOPIC-(N-1); <c>--num-subscriptions M</c>
/// subscribes SUBSCRIPTION-0 … SUBSCRIPTION-(M-1) to each, with <c>--num-consumers</c> consumers each;
/// <c>--receive-delay-ms</c> makes every consumer a slow one that pauses after each message (a growing backlog).
/// </summary>
public static class PerfConsume
{
    public static Command Create()
    {
        var topic = new Argument<string>("topic") { Description = "Topic" };
        var url = ClientConnection.ServiceUrlOption();
        var legacyUrl = ClientConnection.LegacyUrlOption();
        var subscription = new Option<string>("--subscription", "-s") { Description = "Subscription", DefaultValueFactory = _ => "perf" };
        var type = new Option<string>("--subscription-type", "-st") { Description = "Exclusive, Shared, Failover, Key_Shared", DefaultValueFactory = _ => "Exclusive" };
        var consumers = new Option<int>("--num-consumers", "-n") { Description = "Consumers", DefaultValueFactory = _ => 1 };
        var queue = new Option<int>("--receiver-queue-size", "-q") { Description = "Receiver queue per consumer", DefaultValueFactory = _ => 1000 };
        var duration = new Option<string>("--duration", "-d") { Description = "Run time (30s, 1m)", DefaultValueFactory = _ => "30s" };
        var position = new Option<string>("--initial-position", "-p") { Description = "latest or earliest", DefaultValueFactory = _ => "latest" };
        var interval = new Option<int>("--stats-interval-seconds", "-i") { Description = "Report interval", DefaultValueFactory = _ => 5 };
        var json = new Option<bool>("--json") { Description = "Print only the final summary as JSON" };
        var numTopics = PerfTopics.NumTopicsOption();
        var histogramFile = PerfTopics.HistogramFileOption();
        var subscriptions = new Option<int>("--num-subscriptions", "-ns")
        {
            Description = "Subscriptions per topic: with M > 1 named SUBSCRIPTION-0 … SUBSCRIPTION-(M-1)",
            DefaultValueFactory = _ => 1,
        };
        var receiveDelay = new Option<double>("--receive-delay-ms")
        {
            Description = "Slow consumer: pause this long after each message before taking the next (0: none)",
            DefaultValueFactory = _ => 0,
        };
        var warmup = new Option<string>("--warmup")
        {
            Description = "Run this long first and leave it out of the summary (from the first report after it)",
            DefaultValueFactory = _ => "0s",
        };

        var command = new Command("consume", "Consume load and report throughput and end-to-end latency")
        {
            topic, url, legacyUrl, subscription, type, consumers, queue, duration, position, interval, json, warmup,
            numTopics, histogramFile, subscriptions, receiveDelay,
        };
        command.SetAction(async (parse, ct) =>
        {
            if (!ConsumeCommand.TryParseType(parse.GetValue(type)!, out var subscriptionType))
            {
                return CliErrors.BadArguments($"unknown subscription type '{parse.GetValue(type)}' (Exclusive, Shared, Failover, Key_Shared)");
            }

            int consumerCount = parse.GetValue(consumers);
            if (consumerCount < 1)
            {
                return CliErrors.BadArguments("--num-consumers must be positive");
            }

            if (parse.GetValue(numTopics) < 1 || parse.GetValue(subscriptions) < 1 || parse.GetValue(receiveDelay) < 0)
            {
                return CliErrors.BadArguments("--num-topics and --num-subscriptions must be positive, --receive-delay-ms not negative");
            }

            var topics = PerfTopics.Names(parse.GetValue(topic)!, parse.GetValue(numTopics));
            var subscriptionNames = PerfTopics.Names(parse.GetValue(subscription)!, parse.GetValue(subscriptions));
            var delay = TimeSpan.FromMilliseconds(parse.GetValue(receiveDelay));

            bool asJson = parse.GetValue(json);
            var runTime = PerfCommand.ParseDuration(parse.GetValue(duration)!);
            string serviceUrl = ClientConnection.Resolve(parse, url, legacyUrl);
            await using var client = new PulsarishClient(serviceUrl);
            var list = new List<Consumer>();
            try
            {
                await ClientConnection.EnsureReachableAsync(serviceUrl, ct);
                foreach (var (topicName, subscriptionName) in topics.SelectMany(t => subscriptionNames.Select(s => (t, s))))
                for (int i = 0; i < consumerCount; i++)
                {
                    list.Add(await client.SubscribeAsync(new ConsumerOptions
                    {
                        Topic = topicName,
                        SubscriptionName = subscriptionName,
                        SubscriptionType = subscriptionType,
                        ReceiverQueueSize = parse.GetValue(queue),
                        InitialPosition = parse.GetValue(position) == "earliest"
                            ? SubscriptionInitialPosition.Earliest
                            : SubscriptionInitialPosition.Latest,
                    }, ct));
                }
            }
            catch (Exception e) when (CliErrors.TryPrint(e, out int exitCode))
            {
                return exitCode;
            }

            var warmupTime = PerfCommand.ParseDuration(parse.GetValue(warmup)!);
            var meter = new PerfMeter("Received", warmupTime, parse.GetValue(histogramFile));
            using var run = CancellationTokenSource.CreateLinkedTokenSource(ct);
            run.CancelAfter(runTime + warmupTime);
            var reporting = meter.ReportUntilAsync(TimeSpan.FromSeconds(parse.GetValue(interval)), asJson, run.Token);
            var loops = list.Select(c => Task.Run(() => ConsumeLoopAsync(c, meter, delay, run.Token))).ToArray();
            await Task.WhenAll(loops);
            var summary = await reporting;
            foreach (var consumer in list)
            {
                await consumer.DisposeAsync();
            }

            PerfMeter.Print(summary, asJson);
            return 0;
        });
        return command;
    }

    /// <summary>Acknowledgements sent together (pulsar-perf relies on the Java client's ack grouping likewise).</summary>
    private const int AckBatchSize = 100;

    private static readonly TimeSpan AckBatchDelay = TimeSpan.FromMilliseconds(10);

    private static async Task ConsumeLoopAsync(Consumer consumer, PerfMeter meter, TimeSpan delay, CancellationToken ct)
    {
        var pending = new List<MessageId>(AckBatchSize);
        var inFlight = new List<Task>();
        long firstPending = 0;
        try
        {
            await foreach (var message in consumer.WithCancellation(ct))
            {
                var endToEnd = DateTimeOffset.UtcNow - message.PublishTime;
                meter.Record(message.Payload.Length, (long)endToEnd.TotalMicroseconds);
                if (pending.Count == 0)
                {
                    firstPending = Stopwatch.GetTimestamp();
                }

                pending.Add(message.MessageId);
                if (pending.Count >= AckBatchSize || Stopwatch.GetElapsedTime(firstPending) >= AckBatchDelay)
                {
                    inFlight.RemoveAll(static t => t.IsCompleted);
                    inFlight.Add(AcknowledgeAsync(consumer, pending, meter));
                    pending = new List<MessageId>(AckBatchSize);
                }

                if (delay > TimeSpan.Zero)
                {
                    await Task.Delay(delay, ct);
                }
            }
        }
        catch (OperationCanceledException)
        {
            // Run time over.
        }

        if (pending.Count > 0)
        {
            inFlight.Add(AcknowledgeAsync(consumer, pending, meter));
        }

        // Everything received is acknowledged before the consumer closes (pulsar-perf's ack grouping flushes on close).
        await Task.WhenAll(inFlight);
    }

    private static async Task AcknowledgeAsync(Consumer consumer, List<MessageId> ids, PerfMeter meter)
    {
        try
        {
            await consumer.AcknowledgeAsync(ids, CancellationToken.None);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            meter.RecordError();
        }
    }
}
