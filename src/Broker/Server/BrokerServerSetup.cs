using Microsoft.Extensions.Logging;

namespace Pulsarish.Broker.Server;

/// <summary>Optional hooks of <see cref="BrokerServer.StartAsync"/>.</summary>
public sealed class BrokerServerSetup
{
    /// <summary>Replaces the logging configuration (default: warnings and above to stderr).</summary>
    public Action<ILoggingBuilder>? ConfigureLogging { get; init; }
}
