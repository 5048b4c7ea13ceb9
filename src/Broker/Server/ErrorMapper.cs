using Grpc.Core;
using Pulsarish.Broker.Errors;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Server;

/// <summary>
/// The one place where the gRPC layer turns failures into wire errors (DESIGN.md §8): an exception's
/// <see cref="ErrorReason"/> (via the engine's <see cref="BrokerErrorReasons.Of"/>), the gRPC status code of a
/// failed call, and the "reason" trailer that carries the reason's name.
/// </summary>
public static class ErrorMapper
{
    /// <summary>Name of the trailer with the <see cref="ErrorReason"/> of a failed call.</summary>
    public const string ReasonTrailer = "reason";

    /// <summary>The wire reason of <paramref name="error"/>.</summary>
    public static ErrorReason Reason(Exception error) => error switch
    {
        RpcException rpc when rpc.Trailers.GetValue(ReasonTrailer) is { } text
                              && Enum.TryParse<ErrorReason>(text, out var carried) => carried,
        RpcException { StatusCode: StatusCode.Cancelled } => ErrorReason.ServiceNotReady,
        _ => BrokerErrorReasons.Of(error),
    };

    /// <summary>The message clients see: the exception's own text, except for unexpected failures.</summary>
    public static string Message(Exception error)
    {
        var reason = Reason(error);
        return reason == ErrorReason.UnknownError ? $"internal error ({error.GetType().Name})" : error.Message;
    }

    /// <summary>The gRPC status code of a call that failed with <paramref name="reason"/>.</summary>
    public static StatusCode StatusCodeOf(ErrorReason reason) => reason switch
    {
        ErrorReason.TopicNotFound or ErrorReason.SubscriptionNotFound or ErrorReason.NamespaceNotFound
            or ErrorReason.TenantNotFound => StatusCode.NotFound,
        ErrorReason.InvalidTopicName or ErrorReason.BadRequest or ErrorReason.InvalidMessageId
            or ErrorReason.InvalidTopicsPattern => StatusCode.InvalidArgument,
        ErrorReason.Unauthorized => StatusCode.PermissionDenied,
        ErrorReason.TooLarge or ErrorReason.ProducerQueueFull => StatusCode.ResourceExhausted,
        ErrorReason.NotAllowed or ErrorReason.NotOwner or ErrorReason.ProducerFenced => StatusCode.FailedPrecondition,
        ErrorReason.Timeout => StatusCode.DeadlineExceeded,
        ErrorReason.ProducerBusy or ErrorReason.SubscriptionBusy => StatusCode.AlreadyExists,
        ErrorReason.Fenced => StatusCode.Aborted,
        ErrorReason.ServiceNotReady or ErrorReason.PersistenceError => StatusCode.Unavailable,
        _ => StatusCode.Internal,
    };

    /// <summary>A failed-call exception with status code and reason trailer.</summary>
    public static RpcException ToRpcException(ErrorReason reason, string message)
        => new(new Status(StatusCodeOf(reason), message), new Grpc.Core.Metadata { { ReasonTrailer, reason.ToString() } });

    /// <summary>A failed-call exception for <paramref name="error"/>.</summary>
    public static RpcException ToRpcException(Exception error)
        => error as RpcException ?? ToRpcException(Reason(error), Message(error));

    /// <summary>True for failures worth logging as broker problems rather than client mistakes.</summary>
    public static bool IsServerSide(ErrorReason reason)
        => reason is ErrorReason.UnknownError or ErrorReason.PersistenceError;
}
