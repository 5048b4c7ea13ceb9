using Pulsarish.Broker.Errors;

namespace Pulsarish.Broker.Server;

/// <summary>
/// Hands the engine to the gRPC service. The endpoint starts listening before the engine (so that the engine
/// learns its advertised port); calls arriving before <see cref="Attach"/> or after <see cref="BeginShutdown"/>
/// fail with ServiceNotReady. <see cref="Stopping"/> ends open streams at shutdown.
/// </summary>
public sealed class BrokerServiceAccessor
{
    private readonly CancellationTokenSource _stopping = new();
    private volatile BrokerService? _service;

    /// <summary>Cancelled when the broker begins to stop.</summary>
    public CancellationToken Stopping => _stopping.Token;

    public void Attach(BrokerService service) => _service = service;

    /// <summary>The engine; throws <see cref="ServiceNotReadyException"/> while starting or stopping.</summary>
    public BrokerService Service
    {
        get
        {
            var service = _service;
            if (service is null || _stopping.IsCancellationRequested)
            {
                throw new ServiceNotReadyException(_stopping.IsCancellationRequested
                    ? "broker is shutting down"
                    : "broker is starting");
            }

            return service;
        }
    }

    public void BeginShutdown() => _stopping.Cancel();
}
