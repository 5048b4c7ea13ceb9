// Side-by-side benchmark client for NATS JetStream (file storage), reporting the same figures as
// `pulsarish perf produce|consume`: msg/s, MB/s, publish latency (publish call → ack) and end-to-end latency
// (send timestamp in the payload → receive). Usage:
//   dotnet run -c Release -- --url nats://127.0.0.1:14222 --duration 20 --size 1024 --window 1000 [--rate 0] [--warmup 0]
// --warmup S runs S seconds first and leaves them out of the figures (as `pulsarish perf … --warmup`).
using System.Buffers.Binary;
using System.Diagnostics;
using HdrHistogram;
using NATS.Client.Core;
using NATS.Client.JetStream;
using NATS.Client.JetStream.Models;

string url = Arg("--url", "nats://127.0.0.1:4222");
int seconds = int.Parse(Arg("--duration", "20"));
int size = Math.Max(16, int.Parse(Arg("--size", "1024")));
int window = int.Parse(Arg("--window", "1000"));
int rate = int.Parse(Arg("--rate", "0"));
int warmupSeconds = int.Parse(Arg("--warmup", "0"));

await using var nats = new NatsConnection(new NatsOpts { Url = url });
var js = new NatsJSContext(nats);
const string stream = "BENCH";
try
{
    await js.DeleteStreamAsync(stream);
}
catch (NatsJSApiException)
{
    // Not there yet.
}

await js.CreateStreamAsync(new StreamConfig(stream, ["bench.>"]) { Storage = StreamConfigStorage.File });
var consumer = await js.CreateOrUpdateConsumerAsync(stream, new ConsumerConfig("bench")
{
    DurableName = "bench", AckPolicy = ConsumerConfigAckPolicy.Explicit,
});

var publishLatency = new LongConcurrentHistogram(1, 3_600_000_000, 3);
var endToEnd = new LongConcurrentHistogram(1, 3_600_000_000, 3);
long published = 0;
long received = 0;
using var run = new CancellationTokenSource(TimeSpan.FromSeconds(warmupSeconds + seconds));
using var drain = new CancellationTokenSource(TimeSpan.FromSeconds(warmupSeconds + seconds + 5));
var measuring = Stopwatch.StartNew();
bool Measured() => measuring.Elapsed.TotalSeconds >= warmupSeconds;

var consuming = Task.Run(async () =>
{
    try
    {
        await foreach (var msg in consumer.ConsumeAsync<byte[]>(opts: new NatsJSConsumeOpts { MaxMsgs = 1000 }, cancellationToken: drain.Token))
        {
            long sentTicks = BinaryPrimitives.ReadInt64LittleEndian(msg.Data);
            if (Measured())
            {
                endToEnd.RecordValue(Math.Max(1, (DateTime.UtcNow.Ticks - sentTicks) / 10));
                Interlocked.Increment(ref received);
            }
            await msg.AckAsync(cancellationToken: drain.Token);
        }
    }
    catch (OperationCanceledException)
    {
        // Run over.
    }
});

var started = Stopwatch.StartNew();
using var inFlight = new SemaphoreSlim(window, window);
var senderDone = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
// The send loop runs on its own thread so that pacing can sleep 1 ms (Task.Delay(1) sleeps ~4 ms on this machine)
// without holding a thread-pool thread the NATS client needs.
var sender = new Thread(() =>
{
    long sent = 0;
    try
    {
        while (!run.IsCancellationRequested)
        {
            if (rate > 0 && sent >= started.Elapsed.TotalSeconds * rate)
            {
                Thread.Sleep(1);
                continue;
            }

            inFlight.Wait(run.Token);
            var payload = new byte[size];
            BinaryPrimitives.WriteInt64LittleEndian(payload, DateTime.UtcNow.Ticks);
            long t0 = Stopwatch.GetTimestamp();
            sent++;
            _ = PublishAsync(payload, t0);
        }
    }
    catch (OperationCanceledException)
    {
        // Run over.
    }
    finally
    {
        senderDone.SetResult();
    }
}) { IsBackground = true, Name = "sender" };
sender.Start();
await senderDone.Task;

double elapsed = started.Elapsed.TotalSeconds - warmupSeconds;
for (int i = 0; i < window; i++)
{
    await inFlight.WaitAsync(TimeSpan.FromSeconds(10));
}

await consuming;
Report("Produced", published, elapsed, publishLatency);
Report("Received", received, elapsed, endToEnd);
return 0;

async Task PublishAsync(byte[] payload, long t0)
{
    try
    {
        var ack = await js.PublishAsync("bench.x", payload);
        ack.EnsureSuccess();
        if (Measured())
        {
            publishLatency.RecordValue(Math.Max(1, (long)Stopwatch.GetElapsedTime(t0).TotalMicroseconds));
            Interlocked.Increment(ref published);
        }
    }
    finally
    {
        inFlight.Release();
    }
}

void Report(string what, long count, double secs, HistogramBase h) =>
    Console.WriteLine(string.Create(System.Globalization.CultureInfo.InvariantCulture,
        $"NATS JetStream {what}: {count} msgs in {secs:F1} s --- {count / secs:F1} msg/s --- {count * (double)size / secs / 1e6:F2} MB/s --- latency ms: " +
        $"p50 {h.GetValueAtPercentile(50) / 1000.0:F3} p95 {h.GetValueAtPercentile(95) / 1000.0:F3} p99 {h.GetValueAtPercentile(99) / 1000.0:F3} " +
        $"p99.9 {h.GetValueAtPercentile(99.9) / 1000.0:F3} max {h.GetMaxValue() / 1000.0:F3}"));

string Arg(string name, string fallback)
{
    int i = Array.IndexOf(args, name);
    return i >= 0 && i + 1 < args.Length ? args[i + 1] : fallback;
}
