using Pulsarish.Common.Errors;

namespace Pulsarish.Broker.Ownership;

/// <summary>
/// The broker cannot answer for ownership right now (its metadata session is down, or a stale record of its previous
/// incarnation is still in place). Retriable: the client looks up again after a pause.
/// </summary>
public sealed class ServiceNotReadyException(string message) : PulsarishException("ServiceNotReady", message);
