using System.Threading.Channels;
using Grpc.Core;

namespace Pulsarish.Client;

/// <summary>
/// The single writer of one gRPC request stream (<see cref="IClientStreamWriter{T}"/> allows one write at a time):
/// callers enqueue without blocking, one task drains the queue in order. The queue is unbounded here because its
/// producers are bounded upstream (a producer's pending-message limit, a consumer's received messages).
/// A failed write stops the loop; the response reader of the same call notices the broken call.
/// </summary>
internal sealed class OutboundStream<T> where T : class
{
    private readonly Channel<T> _queue = Channel.CreateUnbounded<T>(new UnboundedChannelOptions
    {
        SingleReader = true,
        SingleWriter = false,
    });

    private readonly IClientStreamWriter<T> _writer;

    public OutboundStream(IClientStreamWriter<T> writer)
    {
        _writer = writer;
        Completion = Task.Run(DrainAsync);
    }

    /// <summary>Ends when the queue is completed and drained (the request stream is then completed) or a write failed.</summary>
    public Task Completion { get; }

    /// <summary>Queues <paramref name="item"/>; false once <see cref="Complete"/> was called.</summary>
    public bool TryWrite(T item) => _queue.Writer.TryWrite(item);

    /// <summary>No more items: the queue drains, then the request stream is completed.</summary>
    public void Complete() => _queue.Writer.TryComplete();

    private async Task DrainAsync()
    {
        try
        {
            var reader = _queue.Reader;
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                while (reader.TryRead(out var item))
                {
                    await _writer.WriteAsync(item).ConfigureAwait(false);
                }
            }

            await _writer.CompleteAsync().ConfigureAwait(false);
        }
        catch (Exception e) when (e is RpcException or InvalidOperationException or IOException or OperationCanceledException)
        {
            // The call is broken or was cancelled; its response reader reports the failure.
            _queue.Writer.TryComplete();
        }
    }
}
