using Pulsarish.Hosting;
using System.Diagnostics;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using HdrHistogram;
using Pulsarish.Protocol.Checksums;
using Pulsarish.Ledgers;
using Pulsarish.Protocol.Bookie;
using StatusCode = Pulsarish.Protocol.Bookie.StatusCode;

namespace Pulsarish.Cli;

/// <summary>
/// Load generator of <c>pulsarish perf bookie</c>: N writers, each on its own ledger, keep
/// <see cref="Settings.PipelineDepth"/> adds in flight with valid digests. With <see cref="PerfTransport.Batch"/> the
/// writers share one AddBatch stream through the ledger client's <see cref="GrpcBookieClient"/> (as a BookKeeper client
/// shares one channel per bookie); with <see cref="PerfTransport.Single"/> each writer has its own Add stream (one
/// message per add). Latency is send → OK response, in µs. Only adds sent and answered inside the measurement window
/// (after the warm-up) count.
/// </summary>
public sealed class BookiePerf
{
    private readonly Settings _settings;

    public BookiePerf(Settings settings) => _settings = settings;

    /// <summary>What to run.</summary>
    public sealed record Settings(string Address, int Writers, int EntryBytes, int PipelineDepth, TimeSpan Duration,
        TimeSpan Warmup, long FirstLedgerId, PerfTransport Transport = PerfTransport.Batch);

    /// <summary>How the writers reach the bookie.</summary>
    public enum PerfTransport
    {
        /// <summary>One shared AddBatch stream (the ledger client's transport).</summary>
        Batch,

        /// <summary>One Add stream per writer, one message per add.</summary>
        Single,
    }

    /// <summary>Figures of one run.</summary>
    public sealed record Report(long Adds, long Errors, double Seconds, double AddsPerSecond, double BytesPerSecond,
        long P50Micros, long P99Micros, long P999Micros, long MaxMicros, long ServerAllocatedBytes);

    public async Task<Report> RunAsync(CancellationToken ct)
    {
        using var channel = GrpcChannel.ForAddress($"http://{_settings.Address}", new GrpcChannelOptions
        {
            MaxReceiveMessageSize = null,
            MaxSendMessageSize = null,
            HttpHandler = new SocketsHttpHandler { EnableMultipleHttp2Connections = true },
        });
        var client = new Protocol.Bookie.Bookie.BookieClient(channel);
        await using var bookies = _settings.Transport == PerfTransport.Batch
            ? new GrpcBookieClient(new StaticBookieDirectory(_settings.Address))
            : null;
        var clock = Stopwatch.StartNew();
        long measureStart = Stopwatch.GetTimestamp() + (long)(_settings.Warmup.TotalSeconds * Stopwatch.Frequency);
        long measureEnd = measureStart + (long)(_settings.Duration.TotalSeconds * Stopwatch.Frequency);
        var writers = new Writer[_settings.Writers];
        var tasks = new Task[writers.Length];
        for (int i = 0; i < writers.Length; i++)
        {
            writers[i] = new Writer(client, bookies, _settings, _settings.FirstLedgerId + i, measureStart, measureEnd);
        }

        for (int i = 0; i < writers.Length; i++)
        {
            tasks[i] = writers[i].RunAsync(ct);
        }

        await WaitUntilAsync(measureStart, ct);
        long allocatedBefore = (await client.GetInfoAsync(new BookieInfoRequest(), cancellationToken: ct)).AllocatedBytes;
        await WaitUntilAsync(measureEnd, ct);
        long allocatedAfter = (await client.GetInfoAsync(new BookieInfoRequest(), cancellationToken: ct)).AllocatedBytes;
        await Task.WhenAll(tasks);

        var latency = new LongHistogram(1, 600_000_000, 3);
        long errors = 0;
        foreach (var writer in writers)
        {
            latency.Add(writer.Latency);
            errors += writer.Errors;
        }

        long adds = latency.TotalCount;
        double seconds = _settings.Duration.TotalSeconds;
        return new Report(adds, errors, seconds, adds / seconds, adds * (double)_settings.EntryBytes / seconds,
            latency.ValueAt(50), latency.ValueAt(99), latency.ValueAt(99.9),
            latency.GetMaxValue(), allocatedAfter - allocatedBefore);
    }

    private static async Task WaitUntilAsync(long timestamp, CancellationToken ct)
    {
        var remaining = TimeSpan.FromSeconds((timestamp - Stopwatch.GetTimestamp()) / (double)Stopwatch.Frequency);
        if (remaining > TimeSpan.Zero)
        {
            await Task.Delay(remaining, ct);
        }
    }

    /// <summary>One writer: a ledger, a window of in-flight adds, an Add stream or a share of the AddBatch stream.</summary>
    private sealed class Writer : IAddCallback
    {
        private static readonly byte[] MasterKey = "perf"u8.ToArray();

        private readonly Protocol.Bookie.Bookie.BookieClient _client;
        private readonly GrpcBookieClient? _bookies;
        private readonly Settings _settings;
        private readonly long _ledgerId;
        private readonly long _measureStart;
        private readonly long _measureEnd;
        private readonly long[] _sentAt;
        private readonly SemaphoreSlim _window;
        private readonly byte[] _payloadBytes;
        private readonly ByteString _payload;
        private readonly ByteString _masterKey = ByteString.CopyFrom(MasterKey);

        public Writer(Protocol.Bookie.Bookie.BookieClient client, GrpcBookieClient? bookies, Settings settings,
            long ledgerId, long measureStart, long measureEnd)
        {
            _client = client;
            _bookies = bookies;
            _settings = settings;
            _ledgerId = ledgerId;
            _measureStart = measureStart;
            _measureEnd = measureEnd;
            // Slots by entry id: wide enough that an add still in flight is never overwritten by a later one.
            _sentAt = new long[settings.PipelineDepth * 16];
            _window = new SemaphoreSlim(settings.PipelineDepth, settings.PipelineDepth);
            _payloadBytes = new byte[settings.EntryBytes];
            Random.Shared.NextBytes(_payloadBytes);
            _payload = UnsafeByteOperations.UnsafeWrap(_payloadBytes);
        }

        public LongHistogram Latency { get; } = new(1, 600_000_000, 3);

        public long Errors { get; private set; }

        public Task RunAsync(CancellationToken ct) => _bookies is null ? RunSingleAsync(ct) : RunBatchedAsync(_bookies, ct);

        private long Lac(long entryId) => Math.Max(-1, entryId - _settings.PipelineDepth);

        private async Task RunBatchedAsync(GrpcBookieClient bookies, CancellationToken ct)
        {
            long entryId = 0;
            while (Stopwatch.GetTimestamp() < _measureEnd)
            {
                await _window.WaitAsync(ct);
                long lac = Lac(entryId);
                uint digest = EntryDigest.Compute(_ledgerId, entryId, lac, _payloadBytes);
                _sentAt[entryId % _sentAt.Length] = Stopwatch.GetTimestamp();
                bookies.AddEntry(_settings.Address,
                    new BookieAddRequest(_ledgerId, entryId, MasterKey, lac, digest, _payloadBytes, Recovery: false), this, null);
                entryId++;
            }

            // Every add answered: the whole window is free again.
            for (int i = 0; i < _settings.PipelineDepth; i++)
            {
                await _window.WaitAsync(ct);
            }
        }

        /// <inheritdoc />
        public void AddComplete(StatusCode status, string bookieId, long ledgerId, long entryId, object? context)
        {
            Record(status, entryId, Stopwatch.GetTimestamp());
            _window.Release();
        }

        private async Task RunSingleAsync(CancellationToken ct)
        {
            using var call = _client.Add(cancellationToken: ct);
            var reading = ReadResponsesAsync(call.ResponseStream, ct);
            long entryId = 0;
            while (Stopwatch.GetTimestamp() < _measureEnd)
            {
                await _window.WaitAsync(ct);
                var request = new AddRequest
                {
                    RequestId = (ulong)entryId,
                    LedgerId = _ledgerId,
                    EntryId = entryId,
                    Lac = Lac(entryId),
                    MasterKey = _masterKey,
                    Payload = _payload,
                };
                request.Digest = EntryDigest.Compute(_ledgerId, entryId, request.Lac, _payload.Span);
                _sentAt[entryId % _sentAt.Length] = Stopwatch.GetTimestamp();
                await call.RequestStream.WriteAsync(request, ct);
                entryId++;
            }

            await call.RequestStream.CompleteAsync();
            await reading;
        }

        private async Task ReadResponsesAsync(IAsyncStreamReader<AddResponse> responses, CancellationToken ct)
        {
            while (await responses.MoveNext(ct))
            {
                var response = responses.Current;
                Record(response.Status, response.EntryId, Stopwatch.GetTimestamp());
                _window.Release();
            }
        }

        /// <summary>Counts one answer; called before its window slot is released (the slot's send time is still valid).</summary>
        private void Record(StatusCode status, long entryId, long now)
        {
            long sentAt = _sentAt[entryId % _sentAt.Length];
            lock (Latency)
            {
                if (status != StatusCode.Ok)
                {
                    Errors++;
                    return;
                }

                if (sentAt >= _measureStart && now <= _measureEnd)
                {
                    long micros = (now - sentAt) * 1_000_000 / Stopwatch.Frequency;
                    Latency.RecordValue(Math.Max(1, micros));
                }
            }
        }
    }
}
