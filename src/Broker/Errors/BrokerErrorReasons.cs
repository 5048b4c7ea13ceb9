using Pulsarish.Protocol.Errors;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Errors;

/// <summary>The one place mapping an exception of the engine to its wire <see cref="ErrorReason"/>.</summary>
public static class BrokerErrorReasons
{
    /// <summary>
    /// The reason of <paramref name="error"/>: a <see cref="PulsarishException"/> whose Reason names an
    /// <see cref="ErrorReason"/> maps to it (TooLarge, BadRequest, Fenced, Unauthorized … from Common as well);
    /// other ledger failures are PersistenceError; anything else UnknownError.
    /// </summary>
    public static ErrorReason Of(Exception error)
    {
        if (error is AggregateException { InnerExceptions.Count: 1 } aggregate)
        {
            error = aggregate.InnerExceptions[0];
        }
        return error switch
        {
            BrokerException broker => broker.ErrorReason,
            PulsarishException typed when Enum.TryParse<ErrorReason>(typed.Reason, out var reason) => reason,
            NotEnoughBookiesException => ErrorReason.PersistenceError,
            PulsarishException => ErrorReason.PersistenceError,
            OperationCanceledException => ErrorReason.ServiceNotReady,
            ArgumentException => ErrorReason.BadRequest,
            _ => ErrorReason.UnknownError,
        };
    }
}
