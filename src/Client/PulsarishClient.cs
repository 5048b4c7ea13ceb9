using System.Collections.Concurrent;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Polly.Retry;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Client;

/// <summary>
/// Entry point of the SDK: looks topics up, holds one gRPC channel (HTTP/2 cleartext) per broker address, and
/// creates producers and consumers that reconnect by themselves (a new lookup after every disconnect, exponential
/// backoff with jitter). Thread-safe. Disposing closes every producer and consumer it created, then the channels.
/// </summary>
public sealed class PulsarishClient : IAsyncDisposable
{
    /// <summary>Lookup redirects followed before giving up (a redirect loop means ownership is moving).</summary>
    private const int MaxLookupRedirects = 8;

    /// <summary>Largest gRPC message accepted from a broker.</summary>
    private const int MaxReceiveMessageBytes = 128 * 1024 * 1024;

    private readonly ConcurrentDictionary<string, GrpcChannel> _channels = new(StringComparer.OrdinalIgnoreCase);
    private readonly ConcurrentDictionary<IAsyncDisposable, byte> _handles = new();
    private readonly ILoggerFactory _loggerFactory;
    private int _serviceUrlIndex;
    private int _disposed;

    public PulsarishClient(PulsarishClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        _loggerFactory = options.LoggerFactory ?? NullLoggerFactory.Instance;
        ReconnectPipeline = new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(ErrorReasons.IsRetriable),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.InitialReconnectDelay,
                MaxDelay = options.MaxReconnectDelay,
                MaxRetryAttempts = int.MaxValue,
            })
            .Build();
    }

    /// <summary>A client for the given broker address(es), e.g. <c>127.0.0.1:6650</c>.</summary>
    public PulsarishClient(params string[] serviceUrls) : this(new PulsarishClientOptions { ServiceUrls = serviceUrls })
    {
    }

    public PulsarishClientOptions Options { get; }

    /// <summary>Retries retriable connection failures forever (until cancelled) with exponential backoff and jitter.</summary>
    internal ResiliencePipeline ReconnectPipeline { get; }

    internal ILogger<T> CreateLogger<T>() => _loggerFactory.CreateLogger<T>();

    /// <summary>A producer, connected (or failed with a <see cref="PulsarishClientException"/>) within the operation timeout.</summary>
    public async Task<Producer> CreateProducerAsync(ProducerOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        ThrowIfDisposed();
        var producer = await Producer.CreateAsync(this, options, ct).ConfigureAwait(false);
        Track(producer);
        return producer;
    }

    /// <summary>A consumer, subscribed (or failed with a <see cref="PulsarishClientException"/>) within the operation timeout.</summary>
    public async Task<Consumer> SubscribeAsync(ConsumerOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        ThrowIfDisposed();
        var consumer = await Consumer.CreateAsync(this, options, ct).ConfigureAwait(false);
        Track(consumer);
        return consumer;
    }

    /// <summary>
    /// A reader (non-durable subscription at <see cref="ReaderOptions.StartMessageId"/>), subscribed within the
    /// operation timeout.
    /// </summary>
    public async Task<Reader> CreateReaderAsync(ReaderOptions options, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        ThrowIfDisposed();
        var reader = await Reader.CreateAsync(this, options, ct).ConfigureAwait(false);
        Track(reader);
        return reader;
    }

    /// <summary>
    /// The topics of namespace <paramref name="namespace"/> (<c>tenant/ns</c>): non-partitioned topics and partitioned
    /// topics by their own name, sorted; with <paramref name="pattern"/>, those whose full name it matches whole.
    /// </summary>
    public async Task<IReadOnlyList<string>> GetTopicsOfNamespaceAsync(string @namespace, string? pattern = null,
        CancellationToken ct = default)
    {
        ThrowIfDisposed();
        return await CallServiceAsync(async (broker, _, token) =>
        {
            var answer = await broker.GetTopicsOfNamespaceAsync(new GetTopicsOfNamespaceRequest
            {
                Namespace = @namespace,
                TopicsPattern = pattern ?? "",
            }, cancellationToken: token).ConfigureAwait(false);
            return (IReadOnlyList<string>)answer.Topics.ToList();
        }, ct).ConfigureAwait(false);
    }

    /// <summary>Address (<c>host:port</c>) of the broker owning <paramref name="topic"/>.</summary>
    public async Task<string> LookupAsync(string topic, CancellationToken ct = default)
    {
        ThrowIfDisposed();
        string full = TopicNames.Complete(topic);
        return await CallServiceAsync(async (broker, address, token) =>
        {
            for (int hop = 0; hop < MaxLookupRedirects; hop++)
            {
                // A redirected hop is authoritative: the broker we were sent to takes an unowned bundle itself.
                var answer = await broker.LookupAsync(new LookupRequest { Topic = full, Authoritative = hop > 0 }, cancellationToken: token)
                    .ConfigureAwait(false);
                if (!answer.Redirect || string.Equals(answer.BrokerAddress, address, StringComparison.OrdinalIgnoreCase))
                {
                    return string.IsNullOrEmpty(answer.BrokerAddress) ? address : answer.BrokerAddress;
                }

                address = answer.BrokerAddress;
                broker = BrokerFor(address);
            }

            throw new PulsarishClientException(ErrorReason.ServiceNotReady,
                $"lookup of {full} redirected more than {MaxLookupRedirects} times");
        }, ct).ConfigureAwait(false);
    }

    /// <summary>Number of partitions of <paramref name="topic"/>, 0 when it is not partitioned.</summary>
    public async Task<int> GetPartitionCountAsync(string topic, CancellationToken ct = default)
    {
        ThrowIfDisposed();
        string full = TopicNames.Complete(topic);
        return await CallServiceAsync(async (broker, _, token) =>
        {
            var answer = await broker.GetPartitionedMetadataAsync(new PartitionedMetadataRequest { Topic = full },
                cancellationToken: token).ConfigureAwait(false);
            return answer.Partitions;
        }, ct).ConfigureAwait(false);
    }

    /// <summary>The generated gRPC client of the broker at <paramref name="address"/> (one shared channel per address).</summary>
    internal PulsarishBroker.PulsarishBrokerClient BrokerFor(string address)
    {
        ThrowIfDisposed();
        var channel = _channels.GetOrAdd(address, static a => GrpcChannel.ForAddress(ToUri(a), new GrpcChannelOptions
        {
            HttpHandler = new SocketsHttpHandler
            {
                EnableMultipleHttp2Connections = true,
                KeepAlivePingDelay = TimeSpan.FromSeconds(30),
                KeepAlivePingTimeout = TimeSpan.FromSeconds(10),
                PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
                ConnectTimeout = TimeSpan.FromSeconds(10),
            },
            MaxReceiveMessageSize = MaxReceiveMessageBytes,
            MaxSendMessageSize = null,
        }));
        return new PulsarishBroker.PulsarishBrokerClient(channel);
    }

    /// <summary>
    /// Runs a unary call against the service URLs in turn (starting with the last one that worked); when every URL
    /// failed retriably (broker restarting, ownership moving), tries again with backoff until the operation timeout.
    /// RPC failures become <see cref="PulsarishClientException"/>.
    /// </summary>
    private async Task<T> CallServiceAsync<T>(
        Func<PulsarishBroker.PulsarishBrokerClient, string, CancellationToken, Task<T>> call, CancellationToken ct)
    {
        using var timeout = CancellationTokenSource.CreateLinkedTokenSource(ct);
        timeout.CancelAfter(Options.OperationTimeout);
        PulsarishClientException? last = null;
        try
        {
            return await ReconnectPipeline.ExecuteAsync(async token =>
            {
                try
                {
                    return await CallEachServiceUrlAsync(call, token).ConfigureAwait(false);
                }
                catch (PulsarishClientException e)
                {
                    last = e;
                    throw;
                }
            }, timeout.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (!ct.IsCancellationRequested)
        {
            throw new PulsarishClientException(ErrorReason.ServiceNotReady,
                $"no answer within the operation timeout {Options.OperationTimeout}" +
                (last is null ? "" : $": {last.Message}"), last);
        }
    }

    private async Task<T> CallEachServiceUrlAsync<T>(
        Func<PulsarishBroker.PulsarishBrokerClient, string, CancellationToken, Task<T>> call, CancellationToken ct)
    {
        var urls = Options.ServiceUrls;
        int start = Volatile.Read(ref _serviceUrlIndex);
        PulsarishClientException? last = null;
        for (int i = 0; i < urls.Count; i++)
        {
            int index = (start + i) % urls.Count;
            string address = urls[index];
            try
            {
                var result = await call(BrokerFor(address), address, ct).ConfigureAwait(false);
                Volatile.Write(ref _serviceUrlIndex, index);
                return result;
            }
            catch (RpcException e)
            {
                ct.ThrowIfCancellationRequested();
                last = ErrorReasons.ToClientException(e);
                if (!last.IsRetriable)
                {
                    throw last;
                }
            }
        }

        throw last ?? new PulsarishClientException(ErrorReason.ServiceNotReady, "no service URL answered");
    }

    private void Track(IAsyncDisposable handle) => _handles.TryAdd(handle, 0);

    internal void Untrack(IAsyncDisposable handle) => _handles.TryRemove(handle, out _);

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    private static Uri ToUri(string address)
        => new(address.Contains("://", StringComparison.Ordinal) ? address : "http://" + address);

    /// <summary>Closes every producer and consumer of this client, then its channels.</summary>
    public async ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) != 0)
        {
            return;
        }

        foreach (var handle in _handles.Keys)
        {
            try
            {
                await handle.DisposeAsync().ConfigureAwait(false);
            }
            catch (Exception e) when (e is PulsarishClientException or RpcException or OperationCanceledException)
            {
                // Closing anyway.
            }
        }

        foreach (var channel in _channels.Values)
        {
            channel.Dispose();
        }

        _channels.Clear();
    }
}
