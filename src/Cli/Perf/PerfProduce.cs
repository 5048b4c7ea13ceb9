using System.CommandLine;
using System.Diagnostics;
using System.Text;
using Pulsarish.Client;

namespace Pulsarish.Cli;

/// <summary>
/// <c>pulsarish perf produce TOPIC</c>, like pulsar-perf produce: N producers publish messages of a given size at a
/// total rate (0 = as fast as the pending-message window allows) for a duration; every interval it prints msg/s,
/// MB/s and publish latency (send call → receipt) percentiles, and at the end the aggregate (or JSON). With
/// <c>--num-topics N</c> every one of the topics TOPIC-0 … TOPIC-(N-1) gets <c>--num-producers</c> producers.
/// </summary>
public static class PerfProduce
{
    public static Command Create()
    {
        var topic = new Argument<string>("topic") { Description = "Topic" };
        var url = ClientConnection.ServiceUrlOption();
        var legacyUrl = ClientConnection.LegacyUrlOption();
        var rate = new Option<int>("--rate", "-r") { Description = "Total messages per second (0: unlimited)", DefaultValueFactory = _ => 0 };
        var size = new Option<int>("--size", "-s") { Description = "Message bytes", DefaultValueFactory = _ => 1024 };
        var producers = new Option<int>("--num-producers", "-n") { Description = "Producers", DefaultValueFactory = _ => 1 };
        var duration = new Option<string>("--duration", "-d") { Description = "Run time (30s, 1m)", DefaultValueFactory = _ => "30s" };
        var noBatching = new Option<bool>("--disable-batching") { Description = "One message per entry" };
        var batchMessages = new Option<int>("--batch-max-messages", "-bm") { Description = "Messages per batch", DefaultValueFactory = _ => 1000 };
        var batchDelay = new Option<double>("--batch-time-window", "-b") { Description = "Batch delay in ms", DefaultValueFactory = _ => 1.0 };
        var pending = new Option<int>("--max-outstanding", "-o") { Description = "Pending messages per producer", DefaultValueFactory = _ => 1000 };
        var compression = CompressionOption.Create();
        var payloadFile = new Option<string?>("--payload-file", "-f")
        {
            Description = "UTF-8 text file: each message is one of its lines, picked at random, as pulsar-perf (default: --size random bytes)",
        };
        var interval = new Option<int>("--stats-interval-seconds", "-i") { Description = "Report interval", DefaultValueFactory = _ => 5 };
        var json = new Option<bool>("--json") { Description = "Print only the final summary as JSON" };
        var numTopics = PerfTopics.NumTopicsOption();
        var histogramFile = PerfTopics.HistogramFileOption();
        var warmup = new Option<string>("--warmup")
        {
            Description = "Run this long first and leave it out of the summary (from the first report after it)",
            DefaultValueFactory = _ => "0s",
        };

        var command = new Command("produce", "Publish load and report throughput and publish latency")
        {
            topic, url, legacyUrl, rate, size, producers, duration, noBatching, batchMessages, batchDelay, pending, compression,
            payloadFile, interval, json, warmup, numTopics, histogramFile,
        };
        command.SetAction(async (parse, ct) =>
        {
            int producerCount = parse.GetValue(producers);
            int bytes = parse.GetValue(size);
            int totalRate = parse.GetValue(rate);
            if (producerCount < 1 || bytes < 0 || totalRate < 0)
            {
                return CliErrors.BadArguments("--num-producers must be positive, --size and --rate not negative");
            }

            if (parse.GetValue(numTopics) < 1 || parse.GetValue(batchMessages) < 1)
            {
                return CliErrors.BadArguments("--num-topics and --batch-max-messages must be positive");
            }

            var topics = PerfTopics.Names(parse.GetValue(topic)!, parse.GetValue(numTopics));

            var runTime = PerfCommand.ParseDuration(parse.GetValue(duration)!);
            bool asJson = parse.GetValue(json);
            ProducerOptions OptionsFor(string topicName) => new()
            {
                Topic = topicName,
                BatchingEnabled = !parse.GetValue(noBatching),
                BatchingMaxMessages = parse.GetValue(batchMessages),
                BatchingMaxPublishDelay = TimeSpan.FromMilliseconds(parse.GetValue(batchDelay)),
                MaxPendingMessages = parse.GetValue(pending),
                CompressionType = CompressionOption.Parse(parse.GetValue(compression)),
            };
            string serviceUrl = ClientConnection.Resolve(parse, url, legacyUrl);
            await using var client = new PulsarishClient(serviceUrl);
            var list = new List<Producer>();
            try
            {
                await ClientConnection.EnsureReachableAsync(serviceUrl, ct);
                foreach (string topicName in topics)
                {
                    for (int i = 0; i < producerCount; i++)
                    {
                        list.Add(await client.CreateProducerAsync(OptionsFor(topicName), ct));
                    }
                }
            }
            catch (Exception e) when (CliErrors.TryPrint(e, out int exitCode))
            {
                return exitCode;
            }

            var warmupTime = PerfCommand.ParseDuration(parse.GetValue(warmup)!);
            var meter = new PerfMeter("Produced", warmupTime, parse.GetValue(histogramFile));
            using var run = CancellationTokenSource.CreateLinkedTokenSource(ct);
            run.CancelAfter(runTime + warmupTime);
            byte[][] payloads;
            if (parse.GetValue(payloadFile) is { } path)
            {
                payloads = (await File.ReadAllLinesAsync(path, ct)).Where(l => l.Length > 0).Select(Encoding.UTF8.GetBytes).ToArray();
                if (payloads.Length == 0)
                {
                    return CliErrors.BadArguments($"--payload-file {path} has no non-empty line");
                }
            }
            else
            {
                var payload = new byte[bytes];
                Random.Shared.NextBytes(payload);
                payloads = [payload];
            }
            double perProducerRate = totalRate == 0 ? 0 : (double)totalRate / list.Count;
            var reporting = meter.ReportUntilAsync(TimeSpan.FromSeconds(parse.GetValue(interval)), asJson, run.Token);
            var loops = list.Select(p => Task.Run(() => ProduceLoopAsync(p, payloads, perProducerRate,
                p.Options.MaxPendingMessages, meter, run.Token))).ToArray();
            await Task.WhenAll(loops);
            var summary = await reporting;
            foreach (var producer in list)
            {
                await producer.DisposeAsync();
            }

            PerfMeter.Print(summary, asJson);
            return summary.Errors == 0 ? 0 : 1;
        });
        return command;
    }

    private static async Task ProduceLoopAsync(Producer producer, byte[][] payloads, double rate, int window,
        PerfMeter meter, CancellationToken ct)
    {
        using var inFlight = new SemaphoreSlim(window, window);
        var started = Stopwatch.GetTimestamp();
        long sent = 0;
        try
        {
            while (!ct.IsCancellationRequested)
            {
                if (rate > 0)
                {
                    // Pace to the rate: send what is due, then sleep a tick.
                    double due = Stopwatch.GetElapsedTime(started).TotalSeconds * rate;
                    if (sent >= due)
                    {
                        // Task.Delay(1) sleeps ~4 ms here, which would send the rate in 4 ms bursts.
                        var tick = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
                        DeadlineTimer.Shared.Schedule(TimeSpan.FromMilliseconds(1),
                            static s => ((TaskCompletionSource)s!).TrySetResult(), tick);
                        await tick.Task.WaitAsync(ct);
                        continue;
                    }
                }

                await inFlight.WaitAsync(ct);
                long sentAt = Stopwatch.GetTimestamp();
                sent++;
                var payload = payloads.Length == 1 ? payloads[0] : payloads[Random.Shared.Next(payloads.Length)];
                _ = producer.SendAsync(payload).ContinueWith(static (t, state) =>
                {
                    var (meter, inFlight, sentAt, bytes) = ((PerfMeter, SemaphoreSlim, long, int))state!;
                    if (t.IsCompletedSuccessfully)
                    {
                        meter.Record(bytes, (long)Stopwatch.GetElapsedTime(sentAt).TotalMicroseconds);
                    }
                    else
                    {
                        meter.RecordError();
                    }

                    inFlight.Release();
                }, (meter, inFlight, sentAt, payload.Length), CancellationToken.None, TaskContinuationOptions.ExecuteSynchronously,
                    TaskScheduler.Default);
            }
        }
        catch (OperationCanceledException)
        {
            // Run time over.
        }

        // Let the last sends complete before the producer closes.
        for (int i = 0; i < window; i++)
        {
            if (!await inFlight.WaitAsync(TimeSpan.FromSeconds(30)))
            {
                break;
            }
        }
    }
}
