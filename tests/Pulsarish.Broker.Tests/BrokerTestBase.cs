using System.Text;
using Google.Protobuf;
using Pulsarish.Broker.Admin;
using Pulsarish.Broker.Topics;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Tests;

/// <summary>Helpers: a fresh namespace per test, brokers on the shared bookie cluster, batches.</summary>
public abstract class BrokerTestBase
{
    private readonly List<BrokerService> _brokers = new();

    protected static BookieCluster Cluster => ClusterSetup.Cluster;

    /// <summary>"tenant/namespace" created for this test.</summary>
    protected string Namespace { get; private set; } = "";

    protected string TopicName(string local) => $"persistent://{Namespace}/{local}";

    /// <summary>Options for tests: small ledgers on request, fast cursor persistence, maintenance only on demand.</summary>
    protected static BrokerOptions TestOptions(long maxEntriesPerLedger = 50_000) => new()
    {
        ManagedLedgerMaxEntriesPerLedger = maxEntriesPerLedger,
        ManagedLedgerMinLedgerRolloverTime = TimeSpan.Zero,
        CursorPersistInterval = TimeSpan.FromMilliseconds(50),
        RetentionCheckInterval = TimeSpan.FromHours(1),
        AckTimeoutTick = TimeSpan.FromMilliseconds(100),
        CreateDefaultNamespace = false,
    };

    /// <summary>A broker with its own ledger client (a separate "process" towards the bookies).</summary>
    protected async Task<BrokerService> StartBrokerAsync(BrokerOptions? options = null)
    {
        var broker = await BrokerService.StartAsync(options ?? TestOptions(), Cluster.Store, Cluster.NewClient());
        lock (_brokers)
        {
            _brokers.Add(broker);
        }
        return broker;
    }

    /// <summary>Creates tenant "t" (if needed) and a fresh namespace with <paramref name="policies"/>.</summary>
    protected async Task<string> CreateNamespaceAsync(BrokerService broker, Policies? policies = null)
    {
        if (await broker.Namespaces.GetTenantAsync("t") is null)
        {
            try
            {
                await broker.Namespaces.CreateTenantAsync("t");
            }
            catch (Errors.NotAllowedException)
            {
            }
        }
        string ns = "ns-" + Guid.NewGuid().ToString("N")[..8];
        await broker.Namespaces.CreateNamespaceAsync("t", ns, policies ?? new Policies { EnsembleSize = 2, WriteQuorum = 2, AckQuorum = 2 });
        Namespace = "t/" + ns;
        return Namespace;
    }

    protected static StoredBatch Batch(long sequenceId, string payload, string? key = null)
    {
        var batch = new StoredBatch { SequenceId = sequenceId };
        batch.Messages.Add(Message(payload, key));
        return batch;
    }

    protected static ProducerMessage Message(string payload, string? key = null) => new()
    {
        Payload = ByteString.CopyFromUtf8(payload),
        Key = key ?? "",
        HasKey = key is not null,
    };

    protected static string Text(Dispatch.DeliveredMessage m) => m.Message.Payload.ToStringUtf8();

    /// <summary>
    /// Publishes <paramref name="count"/> single-message batches "prefix-i", pipelined with at most 500 sends in flight
    /// (below the producer's pending limit), and returns the receipts in send order.
    /// </summary>
    protected static async Task<List<PublishResult>> PublishAsync(Topic topic, Producer producer, int count, string prefix = "m",
        long firstSequenceId = 0, Func<int, string?>? key = null)
    {
        var tasks = new List<Task<PublishResult>>(count);
        for (int i = 0; i < count; i++)
        {
            if (i >= 500)
            {
                await tasks[i - 500];
            }
            tasks.Add(topic.PublishAsync(producer, Batch(firstSequenceId + i, $"{prefix}-{i}", key?.Invoke(i))));
        }
        return (await Task.WhenAll(tasks)).ToList();
    }

    [TearDown]
    public async Task StopBrokersAsync()
    {
        foreach (var broker in _brokers)
        {
            await broker.DisposeAsync();
        }
        _brokers.Clear();
    }
}
