using System.Threading.Channels;
using Grpc.Core;

namespace Pulsarish.Broker.Server;

/// <summary>
/// The single writer of one response stream (<see cref="IServerStreamWriter{T}"/> allows one write at a time):
/// producers of responses enqueue into a bounded queue (capacity named by the caller; a full queue makes them
/// wait, which stops reading the request stream and pushes back on the client through HTTP/2 flow control), one
/// task drains it in order. A failed write ends the loop and cancels <see cref="Failed"/>.
/// </summary>
internal sealed class ResponseWriter<T> where T : class
{
    private readonly Channel<T> _queue;
    private readonly IServerStreamWriter<T> _writer;
    private readonly CancellationTokenSource _failed = new();

    public ResponseWriter(IServerStreamWriter<T> writer, int capacity)
    {
        _writer = writer;
        _queue = Channel.CreateBounded<T>(new BoundedChannelOptions(capacity)
        {
            SingleReader = true,
            FullMode = BoundedChannelFullMode.Wait,
        });
        Completion = Task.Run(DrainAsync);
    }

    /// <summary>Ends when the queue was completed and drained, or a write failed.</summary>
    public Task Completion { get; }

    /// <summary>Cancelled once a write failed (the client went away).</summary>
    public CancellationToken Failed => _failed.Token;

    public ValueTask WriteAsync(T response, CancellationToken ct) => _queue.Writer.WriteAsync(response, ct);

    public bool TryWrite(T response) => _queue.Writer.TryWrite(response);

    /// <summary>No more responses: the queue drains, then <see cref="Completion"/> ends.</summary>
    public void Complete() => _queue.Writer.TryComplete();

    private async Task DrainAsync()
    {
        try
        {
            var reader = _queue.Reader;
            while (await reader.WaitToReadAsync().ConfigureAwait(false))
            {
                while (reader.TryRead(out var response))
                {
                    await _writer.WriteAsync(response).ConfigureAwait(false);
                }
            }
        }
        catch (Exception e) when (e is InvalidOperationException or IOException or OperationCanceledException or RpcException)
        {
            _queue.Writer.TryComplete();
            _failed.Cancel();
        }
    }
}
