using System.Diagnostics;
using System.Globalization;
using System.Text.Json;
using HdrHistogram;

namespace Pulsarish.Cli;

/// <summary>
/// Counters and a latency recorder of <c>perf produce</c> / <c>perf consume</c>, as pulsar-perf reports them:
/// every interval the rate (msg/s, MB/s) and latency percentiles of that interval, and at the end the whole run's.
/// Latencies are recorded in microseconds from any thread. Like pulsar-perf's warm-up time, what happens during the
/// warm-up (JIT compilation and tier-up in the client and the server, connection set-up) is printed per interval
/// but left out of the final summary. With a histogram file, every interval's histogram is also appended to an
/// HdrHistogram interval log (readable by HdrHistogram's HistogramLogProcessor and plotters), warm-up included.
/// </summary>
public sealed class PerfMeter
{
    /// <summary>Highest latency tracked (one hour in microseconds).</summary>
    private const long HighestLatencyMicros = 3_600_000_000;

    private readonly Recorder _recorder = new(1, HighestLatencyMicros, 3,
        (id, low, high, digits) => new LongHistogram(id, low, high, digits));

    private readonly LongHistogram _total = new(1, HighestLatencyMicros, 3);
    private readonly string _what;
    private long _messages;
    private long _bytes;
    private long _errors;

    private readonly TimeSpan _warmup;
    private readonly string? _histogramFile;

    public PerfMeter(string what, TimeSpan warmup = default, string? histogramFile = null)
    {
        _what = what;
        _warmup = warmup;
        _histogramFile = histogramFile;
    }

    public long Messages => Interlocked.Read(ref _messages);

    public void Record(int bytes, long latencyMicros)
    {
        Interlocked.Increment(ref _messages);
        Interlocked.Add(ref _bytes, bytes);
        _recorder.RecordValue(Math.Clamp(latencyMicros, 1, HighestLatencyMicros));
    }

    public void RecordError() => Interlocked.Increment(ref _errors);

    /// <summary>Prints an interval line every <paramref name="interval"/> until cancelled; returns the final summary.</summary>
    public async Task<PerfSummary> ReportUntilAsync(TimeSpan interval, bool json, CancellationToken ct)
    {
        var started = Stopwatch.StartNew();
        bool warming = _warmup > TimeSpan.Zero;
        var measuredFrom = TimeSpan.Zero;
        long baseMessages = 0;
        long baseBytes = 0;
        long ticks = 0;
        long lastMessages = 0;
        long lastBytes = 0;
        var lastTime = TimeSpan.Zero;
        using var timer = new PeriodicTimer(interval);
        using var log = OpenHistogramLog();
        long intervalStartMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        try
        {
            while (await timer.WaitForNextTickAsync(ct))
            {
                var now = started.Elapsed;
                long messages = Messages;
                long bytes = Interlocked.Read(ref _bytes);
                var histogram = _recorder.GetIntervalHistogram();
                intervalStartMs = Append(log, histogram, intervalStartMs);
                string phase = warming ? " (warm-up)" : "";
                ticks++;
                if (warming && ticks * interval >= _warmup)
                {
                    // The summary covers what is recorded from here on.
                    warming = false;
                    measuredFrom = now;
                    baseMessages = messages;
                    baseBytes = bytes;
                }
                else if (!warming)
                {
                    _total.Add(histogram);
                }

                double seconds = (now - lastTime).TotalSeconds;
                if (!json)
                {
                    Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                        $"{_what}{phase}: {(messages - lastMessages) / seconds,10:F1} msg/s --- {(bytes - lastBytes) / seconds / 1e6,7:F2} MB/s --- " +
                        $"latency ms: {Format(histogram)}"));
                }

                lastMessages = messages;
                lastBytes = bytes;
                lastTime = now;
            }
        }
        catch (OperationCanceledException)
        {
            // End of the run.
        }

        var last = _recorder.GetIntervalHistogram();
        Append(log, last, intervalStartMs);
        if (!warming)
        {
            _total.Add(last);
        }

        var elapsed = (started.Elapsed - measuredFrom).TotalSeconds;
        long measured = Messages - baseMessages;
        long errors = Interlocked.Read(ref _errors);
        double megabytesPerSecond = (Interlocked.Read(ref _bytes) - baseBytes) / elapsed / 1e6;
        if (_total.TotalCount == 0)
        {
            // Nothing measured (e.g. a consumer at "latest" after the producer stopped): HdrHistogram has no
            // percentiles of an empty histogram, so the latencies are reported as 0.
            return new PerfSummary(_what, measured, errors, elapsed, measured / elapsed, megabytesPerSecond, 0, 0, 0, 0, 0, 0, 0);
        }

        return new PerfSummary(_what, measured, errors, elapsed, measured / elapsed,
            megabytesPerSecond, Millis(_total.GetMean()),
            Millis(_total.GetValueAtPercentile(50)), Millis(_total.GetValueAtPercentile(95)),
            Millis(_total.GetValueAtPercentile(99)), Millis(_total.GetValueAtPercentile(99.9)),
            Millis(_total.GetValueAtPercentile(99.99)), Millis(_total.GetMaxValue()));
    }

    /// <summary>Prints the summary as a line or as one JSON object.</summary>
    public static void Print(PerfSummary summary, bool json)
    {
        if (json)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(summary, PerfJson.Options));
            return;
        }

        if (summary.Messages == 0)
        {
            Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                $"Aggregated {summary.What}: 0 msgs, {summary.Errors} errors in {summary.Seconds:F1} s --- latency ms: -"));
            return;
        }

        Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
            $"Aggregated {summary.What}: {summary.Messages} msgs, {summary.Errors} errors in {summary.Seconds:F1} s --- " +
            $"{summary.MessagesPerSecond:F1} msg/s --- {summary.MegabytesPerSecond:F2} MB/s --- latency ms: mean {summary.MeanMillis:F3} " +
            $"p50 {summary.P50Millis:F3} p95 {summary.P95Millis:F3} p99 {summary.P99Millis:F3} p99.9 {summary.P999Millis:F3} p99.99 {summary.P9999Millis:F3} max {summary.MaxMillis:F3}"));
    }

    /// <summary>The interval log, its header written, or null without a file.</summary>
    private HistogramIntervalLog? OpenHistogramLog() =>
        _histogramFile is null ? null : new HistogramIntervalLog(_histogramFile, DateTime.UtcNow);

    /// <summary>Appends one interval (from <paramref name="startMs"/> to now) to the log; returns now.</summary>
    private static long Append(HistogramIntervalLog? log, HistogramBase histogram, long startMs)
    {
        long nowMs = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds();
        if (log is not null)
        {
            histogram.StartTimeStamp = startMs;
            histogram.EndTimeStamp = nowMs;
            log.Append(histogram);
        }

        return nowMs;
    }

    private static string Format(HistogramBase h)
        => h.TotalCount == 0
            ? "-"
            : string.Create(CultureInfo.InvariantCulture,
                $"mean {Millis(h.GetMean()):F3} p50 {Millis(h.GetValueAtPercentile(50)):F3} p95 {Millis(h.GetValueAtPercentile(95)):F3} " +
                $"p99 {Millis(h.GetValueAtPercentile(99)):F3} p99.9 {Millis(h.GetValueAtPercentile(99.9)):F3} " +
                $"p99.99 {Millis(h.GetValueAtPercentile(99.99)):F3} max {Millis(h.GetMaxValue()):F3}");

    private static double Millis(double micros) => micros / 1000.0;
}
