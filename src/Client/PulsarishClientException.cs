using Pulsarish.Protocol.Errors;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Client;

/// <summary>
/// A failure reported by the broker or by the client itself, with the broker protocol's machine-readable
/// <see cref="ErrorReason"/> (e.g. <see cref="ErrorReason.TopicNotFound"/>, <see cref="ErrorReason.NotAllowed"/>).
/// <see cref="PulsarishException.Reason"/> is the reason's name.
/// </summary>
public class PulsarishClientException(ErrorReason errorReason, string message, Exception? inner = null)
    : PulsarishException(errorReason.ToString(), message, inner)
{
    /// <summary>The wire reason.</summary>
    public ErrorReason ErrorReason { get; } = errorReason;

    /// <summary>True when retrying (after a reconnect and a new lookup) can succeed.</summary>
    public bool IsRetriable => ErrorReasons.IsRetriable(ErrorReason);
}
