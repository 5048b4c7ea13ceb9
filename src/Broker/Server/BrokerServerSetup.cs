using Microsoft.Extensions.Logging;

namespace Pulsarish.Broker.Server;

/// <summary>Optional hooks of <see cref="BrokerServer.StartAsync"/>.</summary>
public sealed class BrokerServerSetup
{
    /// <summary>Replaces the logging configuration (default: warnings and above to stderr).</summary>
    public Action<ILoggingBuilder>? ConfigureLogging { get; init; }

    /// <summary>Builds the ownership seam from the advertised address (default: this broker owns every topic).</summary>
    public Func<string, CancellationToken, Task<Ownership.IOwnershipService>>? CreateOwnership { get; init; }
}
