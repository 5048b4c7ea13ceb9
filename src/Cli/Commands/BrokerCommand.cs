using Pulsarish.Hosting;
using System.CommandLine;
using Microsoft.Extensions.Logging;
using Pulsarish.Broker;
using Pulsarish.Broker.Ownership;
using Pulsarish.Broker.Server;
using Pulsarish.Hosting.Supervisor;
using Pulsarish.Ledgers;
using Pulsarish.Metadata;

namespace Pulsarish.Cli;

/// <summary>
/// <c>pulsarish broker --metadata-url zk:… --broker-id … --port …</c>: one broker of a cluster, owning namespace
/// bundles through ZooKeeper (DESIGN.md §7), until SIGTERM or Ctrl-C; on the way out it closes its topics, then
/// releases its bundles so that other brokers take them at once. Prints <c>broker ready HOST:PORT</c> on stdout
/// once it serves; logs go to stderr.
/// </summary>
public static class BrokerCommand
{
    public static Command Create()
    {
        var brokerDefaults = new BrokerOptions();
        var serverDefaults = new BrokerServerOptions();
        var metadataUrl = new Option<string>("--metadata-url") { Description = "Metadata store (zk:host:port[/chroot])", Required = true };
        var brokerId = new Option<string>("--broker-id") { Description = "Unique broker id", Required = true };
        var bindAddress = new Option<string>("--bind-address") { Description = "Address to listen on", DefaultValueFactory = _ => serverDefaults.BindAddress };
        var port = new Option<int>("--port") { Description = "gRPC port", DefaultValueFactory = _ => serverDefaults.Port };
        var httpPort = new Option<int?>("--http-port") { Description = "HTTP port of /metrics (off by default)" };
        var advertised = new Option<string?>("--advertised-address") { Description = "host:port clients are redirected to (default: the bound address)" };
        var sessionTimeoutMs = new Option<int>("--metadata-session-timeout-ms")
        {
            Description = "Metadata session timeout", DefaultValueFactory = _ => (int)MetadataStoreFactory.DefaultSessionTimeout.TotalMilliseconds,
        };
        var bundles = new Option<int>("--bundles-per-namespace")
        {
            Description = "Namespace bundles (hash ranges)", DefaultValueFactory = _ => OwnershipOptions.DefaultBundlesPerNamespace,
        };
        var ensemble = new Option<int>("--ensemble-size") { Description = "Default E", DefaultValueFactory = _ => brokerDefaults.ManagedLedgerDefaultEnsembleSize };
        var writeQuorum = new Option<int>("--write-quorum") { Description = "Default Qw", DefaultValueFactory = _ => brokerDefaults.ManagedLedgerDefaultWriteQuorum };
        var ackQuorum = new Option<int>("--ack-quorum") { Description = "Default Qa", DefaultValueFactory = _ => brokerDefaults.ManagedLedgerDefaultAckQuorum };
        var logLevel = new Option<LogLevel>("--log-level") { Description = "Minimum log level (stderr)", DefaultValueFactory = _ => LogLevel.Information };

        var command = new Command("broker", "Run a broker of a cluster (bundle ownership through ZooKeeper)")
        {
            metadataUrl, brokerId, bindAddress, port, httpPort, advertised, sessionTimeoutMs, bundles, ensemble, writeQuorum,
            ackQuorum, logLevel,
        };
        command.SetAction(async (parse, ct) =>
        {
            using var supervised = SupervisedChildAgent.Start();
            var level = parse.GetValue(logLevel);
            Action<ILoggingBuilder> logging = l => l.SetMinimumLevel(level)
                .AddFilter("Microsoft", LogLevel.Warning)
                .AddFilter("Grpc", LogLevel.Warning)
                .AddSimpleConsole(c =>
                {
                    c.SingleLine = true;
                    c.TimestampFormat = "HH:mm:ss.fff ";
                })
                .AddConsole(c => c.LogToStandardErrorThreshold = LogLevel.Trace);
            var brokerOptions = new BrokerOptions
            {
                BrokerId = parse.GetValue(brokerId)!,
                DefaultNumberOfNamespaceBundles = parse.GetValue(bundles),
                ManagedLedgerDefaultEnsembleSize = parse.GetValue(ensemble),
                ManagedLedgerDefaultWriteQuorum = parse.GetValue(writeQuorum),
                ManagedLedgerDefaultAckQuorum = parse.GetValue(ackQuorum),
            };
            var serverOptions = new BrokerServerOptions
            {
                BindAddress = parse.GetValue(bindAddress)!,
                Port = parse.GetValue(port),
                MetricsPort = parse.GetValue(httpPort),
                AdvertisedAddress = parse.GetValue(advertised),
            };
            return await RunAsync(parse.GetValue(metadataUrl)!, TimeSpan.FromMilliseconds(parse.GetValue(sessionTimeoutMs)),
                brokerOptions, serverOptions, logging, ct);
        });
        return command;
    }

    private static async Task<int> RunAsync(string metadataUrl, TimeSpan sessionTimeout, BrokerOptions brokerOptions,
        BrokerServerOptions serverOptions, Action<ILoggingBuilder> logging, CancellationToken ct)
    {
        using var loggerFactory = LoggerFactory.Create(logging);
        await using var store = await MetadataStoreFactory.CreateAsync(metadataUrl, loggerFactory, sessionTimeout, ct);
        await using var bookies = new BookieRegistry(store);
        await using var ledgers = LedgerClient.Create(new LedgerMetadataStore(store), bookies, new LedgerClientOptions(), loggerFactory);
        ClusterOwnershipService? ownership = null;
        var setup = new BrokerHostSetup
        {
            ConfigureLogging = logging,
            CreateOwnership = async (address, token) =>
            {
                var service = new OwnershipService(store, new OwnershipOptions
                {
                    BrokerId = brokerOptions.BrokerId,
                    AdvertisedAddress = address,
                    BundlesPerNamespace = brokerOptions.DefaultNumberOfNamespaceBundles,
                }, loggerFactory);
                await service.StartAsync(token);
                ownership = new ClusterOwnershipService(service);
                return ownership;
            },
        };
        var server = await BrokerHost.StartAsync(serverOptions, brokerOptions, store, ledgers, setup, ct);
        var load = new BrokerLoadSampler(() => server.Service.LoadedTopics.Count, () => server.Metrics.MessagesIn.Value,
            () => server.Metrics.MessagesOut.Value);
        ownership!.Service.LoadProvider = load.Sample;
        Console.Out.WriteLine($"broker ready {server.Address}");
        Console.Out.Flush();
        try
        {
            await Task.Delay(Timeout.Infinite, ct);
        }
        catch (OperationCanceledException)
        {
            // SIGTERM / Ctrl-C: graceful stop.
        }
        await server.StopAsync();
        await ownership.DisposeAsync();
        Console.Out.WriteLine("broker stopped");
        return 0;
    }
}
