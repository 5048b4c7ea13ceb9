using Pulsarish.Broker;
using Microsoft.Extensions.Logging;

namespace Pulsarish.Hosting;

/// <summary>Optional hooks of <see cref="BrokerHost.StartAsync"/>.</summary>
public sealed class BrokerHostSetup
{
    /// <summary>Replaces the logging configuration (default: warnings and above to stderr).</summary>
    public Action<ILoggingBuilder>? ConfigureLogging { get; init; }

    /// <summary>Builds the ownership seam from the advertised address (default: this broker owns every topic).</summary>
    public Func<string, CancellationToken, Task<Pulsarish.Broker.Ownership.IOwnershipService>>? CreateOwnership { get; init; }
}
