using Prometheus;
using Pulsarish.Protocol.Bookie;

namespace Pulsarish.Bookie.Server;

/// <summary>
/// Prometheus metrics of one bookie, in the bookie's own registry (several in-process bookies do not collide).
/// Thread-safe.
/// </summary>
public sealed class BookieMetrics
{
    private readonly Counter.Child[] _addsByStatus;
    private readonly Counter.Child[] _readsByStatus;

    public BookieMetrics(CollectorRegistry registry)
    {
        Registry = registry;
        var factory = Metrics.WithCustomRegistry(registry);
        AddLatency = factory.CreateHistogram("pulsarish_bookie_add_latency_seconds",
            "Time from receiving an add to its journal durability, successful adds only.",
            new HistogramConfiguration { Buckets = Histogram.ExponentialBuckets(0.0001, 2, 16) });
        AddedBytes = factory.CreateCounter("pulsarish_bookie_added_bytes_total", "Payload bytes of successful adds.");
        AddRequestMessages = factory.CreateCounter("pulsarish_bookie_add_request_messages_total",
            "Messages read on Add and AddBatch streams (adds per message = adds_total / this).");
        AddResponseMessages = factory.CreateCounter("pulsarish_bookie_add_response_messages_total",
            "Messages written on Add and AddBatch streams (answers per message = adds_total / this).");
        var adds = factory.CreateCounter("pulsarish_bookie_adds_total", "Add requests answered, by status.",
            new CounterConfiguration { LabelNames = ["status"] });
        var reads = factory.CreateCounter("pulsarish_bookie_reads_total", "Entry reads answered, by status.",
            new CounterConfiguration { LabelNames = ["status"] });
        var statuses = Enum.GetValues<StatusCode>();
        _addsByStatus = new Counter.Child[statuses.Length];
        _readsByStatus = new Counter.Child[statuses.Length];
        foreach (var status in statuses)
        {
            _addsByStatus[(int)status] = adds.WithLabels(status.ToString());
            _readsByStatus[(int)status] = reads.WithLabels(status.ToString());
        }

        var allocated = factory.CreateGauge("pulsarish_bookie_allocated_bytes",
            "GC.GetTotalAllocatedBytes of the bookie process.");
        registry.AddBeforeCollectCallback(() => allocated.Set(GC.GetTotalAllocatedBytes()));
    }

    /// <summary>The registry served on <c>/metrics</c>.</summary>
    public CollectorRegistry Registry { get; }

    /// <summary>Add latency (receive → durable), in seconds.</summary>
    public Histogram AddLatency { get; }

    /// <summary>Payload bytes acknowledged.</summary>
    public Counter AddedBytes { get; }

    /// <summary>Request messages read on add streams (one per add on Add, one per batch on AddBatch).</summary>
    public Counter AddRequestMessages { get; }

    /// <summary>Response messages written on add streams.</summary>
    public Counter AddResponseMessages { get; }

    /// <summary>Counts one answered add.</summary>
    public void CountAdd(StatusCode status) => _addsByStatus[(int)status].Inc();

    /// <summary>Counts one answered entry read.</summary>
    public void CountRead(StatusCode status) => _readsByStatus[(int)status].Inc();
}
