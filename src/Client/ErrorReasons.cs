using Grpc.Core;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Client;

/// <summary>
/// How the client reads failures: the broker's "reason" trailer (DESIGN.md §8) or the gRPC status code, and which
/// reasons are worth a reconnect.
/// </summary>
public static class ErrorReasons
{
    /// <summary>Name of the trailer that carries the <see cref="ErrorReason"/> of a failed call.</summary>
    public const string TrailerKey = "reason";

    /// <summary>True for transient conditions: ownership moving, broker starting or stopping, storage hiccups.</summary>
    public static bool IsRetriable(ErrorReason reason) => reason switch
    {
        ErrorReason.NotOwner or ErrorReason.ServiceNotReady or ErrorReason.Fenced or ErrorReason.PersistenceError
            or ErrorReason.ProducerBusy or ErrorReason.SubscriptionBusy or ErrorReason.ProducerQueueFull
            or ErrorReason.UnknownError => true,
        _ => false,
    };

    /// <summary>The reason of a failed call: its trailer if present, else derived from the status code.</summary>
    public static ErrorReason FromRpc(RpcException e)
    {
        string? text = e.Trailers.GetValue(TrailerKey);
        if (text is not null && Enum.TryParse<ErrorReason>(text, ignoreCase: true, out var reason))
        {
            return reason;
        }

        return e.StatusCode switch
        {
            StatusCode.NotFound => ErrorReason.TopicNotFound,
            StatusCode.InvalidArgument => ErrorReason.BadRequest,
            StatusCode.PermissionDenied or StatusCode.Unauthenticated => ErrorReason.Unauthorized,
            StatusCode.ResourceExhausted => ErrorReason.TooLarge,
            StatusCode.FailedPrecondition => ErrorReason.NotAllowed,
            StatusCode.Unavailable or StatusCode.Internal or StatusCode.Unknown or StatusCode.DeadlineExceeded
                or StatusCode.Aborted or StatusCode.Cancelled => ErrorReason.ServiceNotReady,
            _ => ErrorReason.UnknownError,
        };
    }

    /// <summary>A client exception for a failed call.</summary>
    public static PulsarishClientException ToClientException(RpcException e)
        => new(FromRpc(e), e.Status.Detail is { Length: > 0 } detail ? detail : e.Message, e);

    /// <summary>True when the failure is a transient one (network, broker restart, reason marked retriable).</summary>
    public static bool IsRetriable(Exception e) => e switch
    {
        PulsarishClientException c => c.IsRetriable,
        RpcException r => IsRetriable(FromRpc(r)),
        HttpRequestException or IOException or TimeoutException => true,
        _ => false,
    };
}
