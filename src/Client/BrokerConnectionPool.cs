using System.Collections.Concurrent;
using Grpc.Net.Client;

namespace Pulsarish.Client;

/// <summary>
/// The client's connections: per broker address, <see cref="PulsarishClientOptions.ConnectionsPerBroker"/> gRPC
/// channels, each with its own <see cref="SocketsHttpHandler"/> (so its own HTTP/2 connection), handed out in turn so
/// that producers and consumers spread over them (Pulsar's <c>connectionsPerBroker</c>). Each handler may still open
/// further connections when the broker's concurrent-stream limit is reached (<c>EnableMultipleHttp2Connections</c>),
/// so a client never waits for a free stream. Every connection sends HTTP/2 keep-alive pings after
/// <see cref="PulsarishClientOptions.KeepAliveInterval"/> without traffic from the broker and is closed when the
/// answer does not come within <see cref="PulsarishClientOptions.KeepAliveTimeout"/>: the streams on a dead or frozen
/// broker fail then and reconnect (new lookup). Thread-safe.
/// </summary>
internal sealed class BrokerConnectionPool : IDisposable
{
    /// <summary>Largest gRPC message accepted from a broker.</summary>
    private const int MaxReceiveMessageBytes = 128 * 1024 * 1024;

    private readonly ConcurrentDictionary<string, Lazy<Slot>> _slots = new(StringComparer.OrdinalIgnoreCase);
    private readonly PulsarishClientOptions _options;

    public BrokerConnectionPool(PulsarishClientOptions options) => _options = options;

    /// <summary>The next channel to <paramref name="address"/> (round-robin over its pool).</summary>
    public GrpcChannel ChannelFor(string address) =>
        _slots.GetOrAdd(address, a => new Lazy<Slot>(() => new Slot(a, _options))).Value.Next();

    /// <summary>Channels open per address (tests and diagnostics).</summary>
    public int ChannelCount(string address) =>
        _slots.TryGetValue(address, out var slot) && slot.IsValueCreated ? slot.Value.Created : 0;

    public void Dispose()
    {
        foreach (var slot in _slots.Values)
        {
            if (slot.IsValueCreated)
            {
                slot.Value.Dispose();
            }
        }

        _slots.Clear();
    }

    /// <summary>The channels of one broker address, created on first use.</summary>
    private sealed class Slot(string address, PulsarishClientOptions options) : IDisposable
    {
        private readonly GrpcChannel?[] _channels = new GrpcChannel?[options.ConnectionsPerBroker];
        private int _next = -1;

        public int Created => _channels.Count(c => c is not null);

        public GrpcChannel Next()
        {
            int index = (int)((uint)Interlocked.Increment(ref _next) % (uint)_channels.Length);
            var channel = Volatile.Read(ref _channels[index]);
            if (channel is not null)
            {
                return channel;
            }

            var created = Create(address, options);
            var existing = Interlocked.CompareExchange(ref _channels[index], created, null);
            if (existing is null)
            {
                return created;
            }

            created.Dispose();
            return existing;
        }

        public void Dispose()
        {
            foreach (var channel in _channels)
            {
                channel?.Dispose();
            }
        }

        private static GrpcChannel Create(string address, PulsarishClientOptions options) =>
            GrpcChannel.ForAddress(ToUri(address), new GrpcChannelOptions
            {
                HttpHandler = new SocketsHttpHandler
                {
                    EnableMultipleHttp2Connections = true,
                    KeepAlivePingPolicy = HttpKeepAlivePingPolicy.Always,
                    KeepAlivePingDelay = options.KeepAliveInterval,
                    KeepAlivePingTimeout = options.KeepAliveTimeout,
                    PooledConnectionIdleTimeout = Timeout.InfiniteTimeSpan,
                    ConnectTimeout = options.ConnectionTimeout,
                },
                MaxReceiveMessageSize = MaxReceiveMessageBytes,
                MaxSendMessageSize = null,
            });

        private static Uri ToUri(string address)
            => new(address.Contains("://", StringComparison.Ordinal) ? address : "http://" + address);
    }
}
