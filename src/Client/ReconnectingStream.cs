using System.Threading.Channels;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Client;

/// <summary>
/// The connection skeleton shared by <see cref="PartitionProducer"/> and <see cref="PartitionConsumer"/>: look the
/// topic's owner up, open a bidirectional stream to it, handshake (open request, first answer), read answers until
/// the stream breaks, then back off (the client's Polly reconnect pipeline) and look up again (DESIGN.md §7, §8) —
/// until closed, or a non-retriable error ends it for good. The subclass says what to open, what the first answer
/// means, what each later answer does, and what a disconnect and a final failure do to its own state.
/// <para>
/// <see cref="Sync"/> is the one lock of the subclass and of this skeleton: the current stream is replaced under
/// it, and the <c>…Locked</c> hooks run under it. Thread-safe.
/// </para>
/// </summary>
internal abstract class ReconnectingStream<TRequest, TResponse> : IAsyncDisposable
    where TRequest : class
{
    private readonly string _kind;
    private readonly string _connectedVerb;
    private Connection? _current;
    private Task _reconnect = Task.CompletedTask;

    /// <param name="kind">"Producer" or "Consumer", for messages and logs.</param>
    /// <param name="connectedVerb">What a connect achieves ("connected", "subscribed"), for the timeout message.</param>
    protected ReconnectingStream(PulsarishClient client, string topic, string kind, string connectedVerb, ILogger logger)
    {
        Client = client;
        Topic = topic;
        _kind = kind;
        _connectedVerb = connectedVerb;
        Logger = logger;
    }

    public string Topic { get; }

    protected PulsarishClient Client { get; }

    protected ILogger Logger { get; }

    /// <summary>The lock of the stream state and of the subclass's state.</summary>
    protected object Sync { get; } = new();

    /// <summary>Cancelled once closing starts; a closing stream never reconnects.</summary>
    protected CancellationTokenSource Closing { get; } = new();

    /// <summary>The open stream, or null while (re)connecting or closed. Replaced under <see cref="Sync"/>.</summary>
    protected Connection? Current => Volatile.Read(ref _current);

    /// <summary>The producer or consumer name for logs.</summary>
    protected abstract string Name { get; }

    /// <summary>Connects for the first time within the operation timeout (errors propagate: nothing to retry yet).</summary>
    public Task ConnectAsync(CancellationToken ct) => StreamHandshake.ConnectWithinAsync(
        ConnectOnceAsync, ConnectTimeout,
        $"{_kind.ToLowerInvariant()} on {Topic} not {_connectedVerb} within {ConnectTimeout}", ct);

    /// <summary>Bound of the first connect: the operation timeout, unless the broker is expected to make it wait.</summary>
    protected virtual TimeSpan ConnectTimeout => Client.Options.OperationTimeout;

    /// <summary>Starts the call on the owner broker.</summary>
    protected abstract AsyncDuplexStreamingCall<TRequest, TResponse> StartCall(PulsarishBroker.PulsarishBrokerClient broker,
        CancellationToken callToken);

    /// <summary>The first request of a new stream (open, subscribe).</summary>
    protected abstract TRequest OpenRequest();

    /// <summary>
    /// Takes the broker's first answer under <see cref="Sync"/>: throws when it refuses, otherwise prepares the
    /// subclass's state for <paramref name="connection"/>, which becomes <see cref="Current"/> on return.
    /// </summary>
    protected abstract void OnOpenedLocked(Connection connection, TResponse first);

    /// <summary>After a stream became current and its reader started (outside the lock).</summary>
    protected abstract void OnOpened(Connection connection);

    /// <summary>Handles one later answer; false ends the stream (and reconnects).</summary>
    protected abstract ValueTask<bool> OnResponseAsync(Connection connection, TResponse response);

    /// <summary>Under <see cref="Sync"/>: the current stream broke (also while closing).</summary>
    protected virtual void OnDisconnectedLocked(Connection connection)
    {
    }

    /// <summary>Under <see cref="Sync"/>: whether a broken stream is to be reconnected (closing never is).</summary>
    protected virtual bool ShouldReconnectLocked => true;

    /// <summary>Reconnecting failed with a non-retriable error: the stream is dead.</summary>
    protected abstract void OnFailedForGood(Exception error);

    /// <summary>One attempt: lookup, open the stream, handshake, then read in the background.</summary>
    private async Task ConnectOnceAsync(CancellationToken ct)
    {
        Closing.Token.ThrowIfCancellationRequested();
        string address = await Client.LookupAsync(Topic, ct).ConfigureAwait(false);
        var broker = Client.BrokerFor(address);
        var callCancel = CancellationTokenSource.CreateLinkedTokenSource(Closing.Token);
        var call = StartCall(broker, callCancel.Token);
        var connection = new Connection(call, new OutboundStream<TRequest>(call.RequestStream), callCancel, address);
        await StreamHandshake.OpenAsync(call.ResponseStream, callCancel,
            () => connection.Outbound.TryWrite(OpenRequest()),
            first => Install(connection, first), connection.Abort,
            $"broker {address} closed the {_kind.ToLowerInvariant()} stream", ct).ConfigureAwait(false);
    }

    private void Install(Connection connection, TResponse first)
    {
        lock (Sync)
        {
            Closing.Token.ThrowIfCancellationRequested();
            OnOpenedLocked(connection, first);
            Volatile.Write(ref _current, connection);
        }

        _ = Task.Run(() => ReadAsync(connection));
        OnOpened(connection);
    }

    private async Task ReadAsync(Connection connection)
    {
        Exception? error = null;
        try
        {
            var stream = connection.Call.ResponseStream;
            var token = connection.Token;
            while (await stream.MoveNext(token).ConfigureAwait(false))
            {
                if (!await OnResponseAsync(connection, stream.Current).ConfigureAwait(false))
                {
                    return;
                }
            }
        }
        catch (RpcException e)
        {
            error = ErrorReasons.ToClientException(e);
        }
        catch (Exception e) when (e is IOException or InvalidOperationException or OperationCanceledException
                                      or ChannelClosedException)
        {
            error = e;
        }
        finally
        {
            OnDisconnected(connection, error);
        }
    }

    private void OnDisconnected(Connection connection, Exception? error)
    {
        connection.Abort();
        lock (Sync)
        {
            if (!ReferenceEquals(_current, connection))
            {
                return;
            }

            Volatile.Write(ref _current, null);
            OnDisconnectedLocked(connection);
            if (Closing.IsCancellationRequested || !ShouldReconnectLocked)
            {
                return;
            }

            Logger.LogInformation(error, "{Kind} {Name} on {Topic} disconnected; reconnecting", _kind, Name, Topic);
            _reconnect = Task.Run(ReconnectAsync);
        }
    }

    /// <summary>Reconnects with backoff until it works, the stream closes, or a non-retriable error ends it.</summary>
    private async Task ReconnectAsync()
    {
        try
        {
            await Client.ReconnectPipeline.ExecuteAsync(
                static async (self, token) => await self.ConnectOnceAsync(token).ConfigureAwait(false),
                this, Closing.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (Closing.IsCancellationRequested)
        {
            // Closed while reconnecting.
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            Logger.LogError(e, "{Kind} {Name} on {Topic} failed for good", _kind, Name, Topic);
            OnFailedForGood(e);
        }
    }

    /// <summary>
    /// Stops reconnecting and closes the current stream: its queued requests are written and the request stream is
    /// completed (up to 5 s), then the call is aborted. Waits for a reconnect in progress to end.
    /// </summary>
    protected async Task CloseStreamAsync()
    {
        Connection? connection;
        lock (Sync)
        {
            if (Closing.IsCancellationRequested)
            {
                return;
            }

            Closing.Cancel();
            connection = _current;
            Volatile.Write(ref _current, null);
        }

        if (connection is not null)
        {
            connection.Outbound.Complete();
            try
            {
                await connection.Outbound.Completion.WaitAsync(TimeSpan.FromSeconds(5)).ConfigureAwait(false);
            }
            catch (TimeoutException)
            {
                // Aborted below.
            }

            connection.Abort();
        }

        Task reconnect;
        lock (Sync)
        {
            reconnect = _reconnect;
        }

        await reconnect.ConfigureAwait(false);
    }

    public abstract ValueTask DisposeAsync();

    /// <summary>One stream to one broker with its single writer.</summary>
    protected sealed class Connection(
        AsyncDuplexStreamingCall<TRequest, TResponse> call,
        OutboundStream<TRequest> outbound,
        CancellationTokenSource cancel,
        string address)
    {
        private int _aborted;

        public AsyncDuplexStreamingCall<TRequest, TResponse> Call { get; } = call;
        public OutboundStream<TRequest> Outbound { get; } = outbound;
        public CancellationToken Token { get; } = cancel.Token;
        public string Address { get; } = address;

        /// <summary>The owner's generation number of this stream (the consumer drops messages of older ones).</summary>
        public long Epoch { get; set; }

        /// <summary>The last error the broker reported on this stream (e.g. a refused seek).</summary>
        public PulsarishClientException? LastError { get; set; }

        public void Abort()
        {
            if (Interlocked.Exchange(ref _aborted, 1) != 0)
            {
                return;
            }

            Outbound.Complete();
            cancel.Cancel();
            Call.Dispose();
            cancel.Dispose();
        }
    }
}
