using System.Diagnostics;
using HdrHistogram;
using Pulsarish.Ledgers;
using Pulsarish.Metadata;
using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Cli;

/// <summary>
/// Load generator of <c>pulsarish perf ledger</c>: N writers, each with its own ledger of (E, Qw, Qa) created through
/// the ledger client on the given bookies, keep <see cref="Settings.PipelineDepth"/> adds in flight. Latency is
/// AddAsync → completion (Qa acks and every earlier entry complete), in µs. Only adds started and completed inside the
/// measurement window count. The bookies are registered in an in-memory metadata store (see
/// <see cref="CreateMetadataAsync"/>), so no ZooKeeper is needed.
/// </summary>
public sealed class LedgerPerf
{
    private readonly Settings _settings;

    public LedgerPerf(Settings settings) => _settings = settings;

    /// <summary>What to run.</summary>
    public sealed record Settings(IReadOnlyList<string> Bookies, int EnsembleSize, int WriteQuorum, int AckQuorum,
        int Writers, int EntryBytes, int PipelineDepth, TimeSpan Duration, TimeSpan Warmup);

    /// <summary>Figures of one run.</summary>
    public sealed record Report(long Adds, long Errors, double Seconds, double AddsPerSecond, double BytesPerSecond,
        long P50Micros, long P99Micros, long P999Micros, long MaxMicros);

    /// <summary>
    /// A metadata store for runs against <paramref name="bookies"/>: in memory, with one registration per bookie address
    /// as the bookies would register themselves in a cluster. Share it between runs: ledger ids must never repeat
    /// on the same bookies.
    /// </summary>
    public static async Task<IMetadataStore> CreateMetadataAsync(IEnumerable<string> bookies, CancellationToken ct)
    {
        var store = await MetadataStoreFactory.CreateAsync("memory:", ct: ct);
        foreach (string address in bookies)
        {
            await store.CreateAsync($"/ledgers/available/{address}",
                Google.Protobuf.MessageExtensions.ToByteArray(new BookieServiceInfo { BookieId = address, Address = address }),
                CreateOptions.Ephemeral, ct);
        }

        return store;
    }

    public async Task<Report> RunAsync(IMetadataStore store, CancellationToken ct)
    {
        await using var registry = new BookieRegistry(store);
        await using var client = LedgerClient.Create(new LedgerMetadataStore(store), registry, new LedgerClientOptions());
        var handles = new LedgerHandle[_settings.Writers];
        for (int i = 0; i < handles.Length; i++)
        {
            handles[i] = await client.CreateLedgerAsync(_settings.EnsembleSize, _settings.WriteQuorum, _settings.AckQuorum, ct: ct);
        }

        long measureStart = Stopwatch.GetTimestamp() + (long)(_settings.Warmup.TotalSeconds * Stopwatch.Frequency);
        long measureEnd = measureStart + (long)(_settings.Duration.TotalSeconds * Stopwatch.Frequency);
        var writers = new Writer[handles.Length];
        var tasks = new Task[handles.Length];
        for (int i = 0; i < writers.Length; i++)
        {
            writers[i] = new Writer(handles[i], _settings, measureStart, measureEnd);
            tasks[i] = writers[i].RunAsync(ct);
        }

        await Task.WhenAll(tasks);
        foreach (var handle in handles)
        {
            await handle.DisposeAsync();
        }

        var latency = new LongHistogram(1, 600_000_000, 3);
        long errors = 0;
        foreach (var writer in writers)
        {
            latency.Add(writer.Latency);
            errors += writer.Errors;
        }

        long adds = latency.TotalCount;
        double seconds = _settings.Duration.TotalSeconds;
        foreach (var writer in writers)
        {
            if (writer.FirstError is { } error)
            {
                Console.Error.WriteLine($"first add error: {error.GetType().Name}: {error.Message}");
                break;
            }
        }

        if (adds == 0)
        {
            return new Report(0, errors, seconds, 0, 0, 0, 0, 0, 0);
        }

        return new Report(adds, errors, seconds, adds / seconds, adds * (double)_settings.EntryBytes / seconds,
            latency.ValueAt(50), latency.ValueAt(99), latency.ValueAt(99.9),
            latency.GetMaxValue());
    }

    private sealed class Writer(LedgerHandle handle, Settings settings, long measureStart, long measureEnd)
    {
        public LongHistogram Latency { get; } = new(1, 600_000_000, 3);

        public long Errors;

        public Exception? FirstError;

        public async Task RunAsync(CancellationToken ct)
        {
            var payload = new byte[settings.EntryBytes];
            Random.Shared.NextBytes(payload);
            var lanes = new Task[settings.PipelineDepth];
            for (int i = 0; i < lanes.Length; i++)
            {
                lanes[i] = LaneAsync(payload, ct);
            }

            await Task.WhenAll(lanes);
        }

        private async Task LaneAsync(byte[] payload, CancellationToken ct)
        {
            while (!ct.IsCancellationRequested)
            {
                long start = Stopwatch.GetTimestamp();
                if (start >= measureEnd)
                {
                    return;
                }

                try
                {
                    await handle.AddAsync(payload);
                }
                catch (Exception e) when (!ct.IsCancellationRequested)
                {
                    Interlocked.CompareExchange(ref FirstError, e, null);
                    Interlocked.Increment(ref Errors);
                    return;
                }

                long end = Stopwatch.GetTimestamp();
                if (start >= measureStart && end <= measureEnd)
                {
                    lock (Latency)
                    {
                        Latency.RecordValue(Math.Max(1, (end - start) * 1_000_000 / Stopwatch.Frequency));
                    }
                }
            }
        }
    }
}
