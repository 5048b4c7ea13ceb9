using System.CommandLine;
using Microsoft.Extensions.Logging;
using Pulsarish.Hosting;
using Pulsarish.Hosting.Configuration;
using Pulsarish.Hosting.Supervisor;
using S = Pulsarish.Hosting.Configuration.ConfigurationSections;

namespace Pulsarish.Cli;

/// <summary>
/// <c>pulsarish broker [--config broker.json] --metadata-url zk:… --broker-id … --port …</c>: one broker of a cluster
/// (<see cref="BrokerProcess"/>) until SIGTERM or Ctrl-C. Every setting comes from configuration (sections Metadata,
/// Broker, BrokerServer, Ownership, LedgerClient); the flags below override the keys they name. Prints
/// <c>broker ready HOST:PORT</c> on stdout once it serves; logs go to stderr.
/// </summary>
public static class BrokerCommand
{
    public static Command Create()
    {
        var arguments = new Arguments();
        var command = new Command("broker", "Run a broker of a cluster (bundle ownership through ZooKeeper)");
        arguments.AddTo(command);
        command.SetAction((parse, ct) => ConfigArguments.RunAsync(async () =>
        {
            var settings = ConfigArguments.Build(parse.GetValue(arguments.ConfigFile), arguments.Overrides(parse)).Broker();
            settings.EnsureValid();
            if ((ListenPort.Check(settings.Server.BindAddress, settings.Server.Port, "--port")
                 ?? ListenPort.Check(settings.Server.BindAddress, settings.Server.MetricsPort, "--http-port")) is int busy)
            {
                return busy;
            }

            using var supervised = SupervisedChildAgent.Start();
            BrokerProcess started;
            try
            {
                started = await BrokerProcess.StartAsync(settings,
                    ConfigArguments.ConsoleLogging(parse.GetValue(arguments.LogLevel)), ct);
            }
            catch (Exception e) when (ListenPort.IsAddressInUse(e))
            {
                return ListenPort.Report(settings.Server.BindAddress, settings.Server.Port, "--port");
            }
            await using var broker = started;
            Console.Out.WriteLine($"broker ready {broker.Address}");
            Console.Out.Flush();
            await ConfigArguments.UntilCancelledAsync(ct);
            await broker.StopAsync();
            Console.Out.WriteLine("broker stopped");
            return 0;
        }));
        return command;
    }

    /// <summary>The broker's flags and the keys they set.</summary>
    public sealed class Arguments : IComponentArguments
    {
        private readonly Option<string> _metadataUrl = new("--metadata-url") { Description = "Metadata store (zk:host:port[/chroot]) [Metadata:Url]" };
        private readonly Option<string> _brokerId = new("--broker-id") { Description = "Unique broker id [Broker:BrokerId]" };
        private readonly Option<string> _bindAddress = new("--bind-address") { Description = "Address to listen on [BrokerServer:BindAddress]" };
        private readonly Option<int> _port = new("--port") { Description = "gRPC port [BrokerServer:Port]" };
        private readonly Option<int> _httpPort = new("--http-port") { Description = "HTTP port of /metrics (default 8080; 0: a free one; --set BrokerServer:MetricsPort= turns it off) [BrokerServer:MetricsPort]" };
        private readonly Option<string> _advertised = new("--advertised-address")
        {
            Description = "host:port clients are redirected to (default: the bound address) [BrokerServer:AdvertisedAddress]",
        };
        private readonly Option<int> _sessionTimeoutMs = new("--metadata-session-timeout-ms") { Description = "Metadata session timeout [Metadata:SessionTimeout]" };
        private readonly Option<int> _bundles = new("--bundles-per-namespace") { Description = "Namespace bundles (hash ranges) [Broker:DefaultNumberOfNamespaceBundles]" };
        private readonly Option<int> _ensemble = new("--ensemble-size") { Description = "Default E [Broker:ManagedLedgerDefaultEnsembleSize]" };
        private readonly Option<int> _writeQuorum = new("--write-quorum") { Description = "Default Qw [Broker:ManagedLedgerDefaultWriteQuorum]" };
        private readonly Option<int> _ackQuorum = new("--ack-quorum") { Description = "Default Qa [Broker:ManagedLedgerDefaultAckQuorum]" };

        public Option<string?> ConfigFile { get; } = ConfigArguments.ConfigFileOption();

        public Option<string[]> SetKeys { get; } = ConfigArguments.SetOption();

        public Option<LogLevel> LogLevel { get; } = new("--log-level")
        {
            Description = "Minimum log level (stderr)", DefaultValueFactory = _ => Microsoft.Extensions.Logging.LogLevel.Information,
        };

        public void AddTo(Command command)
        {
            foreach (Option option in new Option[]
            {
                ConfigFile, SetKeys, _metadataUrl, _brokerId, _bindAddress, _port, _httpPort, _advertised, _sessionTimeoutMs, _bundles,
                _ensemble, _writeQuorum, _ackQuorum, LogLevel,
            })
            {
                command.Options.Add(option);
            }
        }

        public ConfigOverrides Overrides(ParseResult parse) => new ConfigOverrides(parse).SetAll(SetKeys)
            .Set(_metadataUrl, $"{S.Metadata}:Url")
            .Set(_sessionTimeoutMs, $"{S.Metadata}:SessionTimeout", ms => ConfigOverrides.Millis(ms))
            .Set(_brokerId, $"{S.Broker}:BrokerId")
            .Set(_bundles, $"{S.Broker}:DefaultNumberOfNamespaceBundles")
            .Set(_ensemble, $"{S.Broker}:ManagedLedgerDefaultEnsembleSize")
            .Set(_writeQuorum, $"{S.Broker}:ManagedLedgerDefaultWriteQuorum")
            .Set(_ackQuorum, $"{S.Broker}:ManagedLedgerDefaultAckQuorum")
            .Set(_bindAddress, $"{S.BrokerServer}:BindAddress")
            .Set(_port, $"{S.BrokerServer}:Port")
            .Set(_httpPort, $"{S.BrokerServer}:MetricsPort")
            .Set(_advertised, $"{S.BrokerServer}:AdvertisedAddress");
    }
}
