using System.Collections.Concurrent;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Polly;
using Polly.Retry;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Client;

/// <summary>
/// Entry point of the SDK: looks topics up, holds a pool of gRPC channels (HTTP/2 cleartext) per broker address
/// (<see cref="PulsarishClientOptions.ConnectionsPerBroker"/>, with keep-alive pings that detect a dead or frozen
/// broker), and creates producers and consumers that reconnect by themselves (a new lookup after every disconnect,
/// exponential backoff with jitter). Thread-safe. Disposing closes every producer and consumer it created, then the
/// channels.
/// </summary>
public sealed class PulsarishClient : IAsyncDisposable
{
    /// <summary>Lookup redirects followed before giving up (a redirect loop means ownership is moving).</summary>
    private const int MaxLookupRedirects = 8;

    private readonly BrokerConnectionPool _pool;
    private readonly ConcurrentDictionary<IAsyncDisposable, byte> _handles = new();
    private readonly ILoggerFactory _loggerFactory;
    private readonly ILogger<PulsarishClient> _logger;
    private int _serviceUrlIndex;
    private int _disposed;

    public PulsarishClient(PulsarishClientOptions options)
    {
        ArgumentNullException.ThrowIfNull(options);
        options.Validate();
        Options = options;
        _pool = new BrokerConnectionPool(options);
        _loggerFactory = options.LoggerFactory ?? NullLoggerFactory.Instance;
        _logger = _loggerFactory.CreateLogger<PulsarishClient>();
        ReconnectPipeline = new ResiliencePipelineBuilder()
            .AddRetry(new RetryStrategyOptions
            {
                ShouldHandle = new PredicateBuilder().Handle<Exception>(ErrorReasons.IsRetriable),
                BackoffType = DelayBackoffType.Exponential,
                UseJitter = true,
                Delay = options.InitialReconnectDelay,
                MaxDelay = options.MaxReconnectDelay,
                MaxRetryAttempts = int.MaxValue,
                OnRetry = args =>
                {
                    _logger.LogDebug(args.Outcome.Exception, "Retrying in {Delay} (attempt {Attempt})",
                        args.RetryDelay, args.AttemptNumber + 1);
                    return default;
                },
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
                LookupResponse answer;
                try
                {
                    answer = await broker.LookupAsync(new LookupRequest { Topic = full, Authoritative = hop > 0 },
                        deadline: ConnectionDeadline(), cancellationToken: token).ConfigureAwait(false);
                }
                catch (RpcException e) when (hop > 0 && !token.IsCancellationRequested)
                {
                    // The owner named by a service URL is silent (frozen, dead): not the service URL's fault.
                    throw new PulsarishClientException(ErrorReason.ServiceNotReady,
                        $"owner {address} of {full} did not answer the lookup: {e.Status.Detail}", e);
                }

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
                deadline: ConnectionDeadline(), cancellationToken: token).ConfigureAwait(false);
            return answer.Partitions;
        }, ct).ConfigureAwait(false);
    }

    /// <summary>
    /// The generated gRPC client of the broker at <paramref name="address"/> on the next channel of its pool (so that
    /// streams opened one after the other spread over <see cref="PulsarishClientOptions.ConnectionsPerBroker"/>
    /// connections).
    /// </summary>
    internal PulsarishBroker.PulsarishBrokerClient BrokerFor(string address)
    {
        ThrowIfDisposed();
        return new PulsarishBroker.PulsarishBrokerClient(_pool.ChannelFor(address));
    }

    /// <summary>Channels this client opened to <paramref name="address"/> (at most ConnectionsPerBroker).</summary>
    internal int ChannelCount(string address) => _pool.ChannelCount(address);

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

    /// <summary>
    /// Tries the service URLs in turn (each call has a deadline of <see cref="PulsarishClientOptions.ConnectionTimeout"/>:
    /// a frozen broker accepts connections but never answers); a URL that failed is not the first one tried next time.
    /// </summary>
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
                last = e.StatusCode == StatusCode.DeadlineExceeded ? Unanswered(address) : ErrorReasons.ToClientException(e);
                if (!last.IsRetriable)
                {
                    throw last;
                }
            }

            AvoidServiceUrl(address);
        }

        throw last ?? new PulsarishClientException(ErrorReason.ServiceNotReady, "no service URL answered");
    }

    private void Track(IAsyncDisposable handle) => _handles.TryAdd(handle, 0);

    internal void Untrack(IAsyncDisposable handle) => _handles.TryRemove(handle, out _);

    private void ThrowIfDisposed() => ObjectDisposedException.ThrowIf(Volatile.Read(ref _disposed) != 0, this);

    /// <summary>
    /// The broker at <paramref name="address"/> failed or dropped a stream: if it is the service URL lookups start
    /// with, they start with the next one (another broker answers lookups as well; a frozen one would make every
    /// lookup wait for its deadline first).
    /// </summary>
    internal void AvoidServiceUrl(string address)
    {
        var urls = Options.ServiceUrls;
        int index = Volatile.Read(ref _serviceUrlIndex);
        if (urls.Count > 1 && string.Equals(urls[index], address, StringComparison.OrdinalIgnoreCase))
        {
            Interlocked.CompareExchange(ref _serviceUrlIndex, (index + 1) % urls.Count, index);
        }
    }

    private DateTime ConnectionDeadline() => DateTime.UtcNow + Options.ConnectionTimeout;

    private PulsarishClientException Unanswered(string address) => new(ErrorReason.ServiceNotReady,
        $"broker {address} did not answer within the connection timeout {Options.ConnectionTimeout}");

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

        _pool.Dispose();
    }
}
