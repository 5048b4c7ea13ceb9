using Grpc.Core;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Client;

/// <summary>
/// The connect steps shared by <see cref="PartitionProducer"/> and <see cref="PartitionConsumer"/>: bound a connect
/// by the operation timeout, and open a freshly started broker stream (send the opening request, wait for the
/// broker's first answer while <c>ct</c> may cancel the call, map gRPC failures to client exceptions, abort the
/// stream unless the handshake completed).
/// </summary>
internal static class StreamHandshake
{
    /// <summary>
    /// Runs <paramref name="connectOnce"/> within <paramref name="operationTimeout"/>; running out of time is a
    /// <see cref="ErrorReason.ServiceNotReady"/> with <paramref name="timeoutMessage"/>, while a cancelled
    /// <paramref name="ct"/> stays a cancellation.
    /// </summary>
    public static async Task ConnectWithinAsync(Func<CancellationToken, Task> connectOnce, TimeSpan operationTimeout,
        string timeoutMessage, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(operationTimeout);
        try
        {
            await connectOnce(timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new PulsarishClientException(ErrorReason.ServiceNotReady, timeoutMessage);
        }
    }

    /// <summary>
    /// Calls <paramref name="sendOpen"/>, reads the first response of <paramref name="responses"/> (cancelling
    /// <paramref name="callCancel"/> if <paramref name="ct"/> fires) and hands it to <paramref name="onFirst"/>.
    /// A stream that ends first is <see cref="ErrorReason.ServiceNotReady"/> with <paramref name="closedMessage"/>;
    /// an <see cref="RpcException"/> becomes a cancellation (when <paramref name="ct"/> fired) or a
    /// <see cref="PulsarishClientException"/>. <paramref name="abort"/> runs if anything throws.
    /// </summary>
    public static async Task OpenAsync<TResponse>(IAsyncStreamReader<TResponse> responses,
        CancellationTokenSource callCancel, Action sendOpen, Action<TResponse> onFirst, Action abort,
        string closedMessage, CancellationToken ct)
    {
        bool ok = false;
        try
        {
            sendOpen();
            TResponse first;
            using (ct.Register(static c => ((CancellationTokenSource)c!).Cancel(), callCancel))
            {
                if (!await responses.MoveNext(callCancel.Token).ConfigureAwait(false))
                {
                    throw new PulsarishClientException(ErrorReason.ServiceNotReady, closedMessage);
                }

                first = responses.Current;
            }

            onFirst(first);
            ok = true;
        }
        catch (RpcException e)
        {
            if (ct.IsCancellationRequested)
            {
                throw new OperationCanceledException(ct);
            }

            throw ErrorReasons.ToClientException(e);
        }
        finally
        {
            if (!ok)
            {
                abort();
            }
        }
    }
}
