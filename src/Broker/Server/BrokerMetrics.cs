using Prometheus;

namespace Pulsarish.Broker.Server;

/// <summary>Prometheus metrics of the broker's client service (one registry per broker, served at <c>/metrics</c>).</summary>
public sealed class BrokerMetrics
{
    public BrokerMetrics(CollectorRegistry registry)
    {
        Registry = registry;
        var factory = Metrics.WithCustomRegistry(registry);
        MessagesIn = factory.CreateCounter("pulsarish_broker_messages_in_total", "Messages persisted for producers");
        BytesIn = factory.CreateCounter("pulsarish_broker_bytes_in_total", "Payload bytes persisted for producers");
        MessagesOut = factory.CreateCounter("pulsarish_broker_messages_out_total", "Messages dispatched to consumers");
        SendErrors = factory.CreateCounter("pulsarish_broker_send_errors_total", "Sends answered with an error", "reason");
        Producers = factory.CreateGauge("pulsarish_broker_producers", "Connected producers");
        Consumers = factory.CreateGauge("pulsarish_broker_consumers", "Connected consumers");
        PublishLatency = factory.CreateHistogram("pulsarish_broker_publish_latency_seconds",
            "Time from a send's arrival to its receipt, counted per message (a batch of N messages counts N)", new HistogramConfiguration
            {
                Buckets = Histogram.ExponentialBuckets(0.0005, 2, 14),
            });
    }

    public CollectorRegistry Registry { get; }
    public Counter MessagesIn { get; }
    public Counter BytesIn { get; }
    public Counter MessagesOut { get; }
    public Counter SendErrors { get; }
    public Gauge Producers { get; }
    public Gauge Consumers { get; }
    public Histogram PublishLatency { get; }
}
