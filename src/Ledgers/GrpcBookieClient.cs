using System.Collections.Concurrent;
using System.Diagnostics;
using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pulsarish.Protocol.Bookie;
using StatusCode = Pulsarish.Protocol.Bookie.StatusCode;

namespace Pulsarish.Ledgers;

/// <summary>
/// <see cref="IBookieClient"/> over gRPC (proto/bookie.proto): one HTTP/2 channel per bookie and one long-lived Add
/// stream per bookie multiplexing request ids (<see cref="BookieConnection"/>). Addresses come from the
/// <see cref="IBookieDirectory"/> registrations and are re-resolved after a connection failure. Thread-safe.
/// </summary>
public sealed class GrpcBookieClient : IBookieClient
{
    private readonly IBookieDirectory _directory;
    private readonly LedgerClientOptions _options;
    private readonly ILogger _logger;
    private readonly ConcurrentDictionary<string, BookieConnection> _connections = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, string> _addresses = new(StringComparer.Ordinal);
    private volatile bool _disposed;
    private long _lastDirectoryReadTimestamp;

    /// <summary>Re-resolution after failures reads the directory at most this often.</summary>
    private static readonly TimeSpan MinDirectoryRereadInterval = TimeSpan.FromSeconds(1);

    public GrpcBookieClient(IBookieDirectory directory, LedgerClientOptions? options = null, ILoggerFactory? loggerFactory = null)
    {
        _directory = directory;
        _options = options ?? new LedgerClientOptions();
        _logger = (loggerFactory ?? NullLoggerFactory.Instance).CreateLogger<GrpcBookieClient>();
    }

    internal LedgerClientOptions Options => _options;
    internal ILogger Logger => _logger;

    public void AddEntry(string bookieId, in BookieAddRequest request, IAddCallback callback, object? context)
    {
        if (_disposed)
        {
            callback.AddComplete(StatusCode.Error, bookieId, request.LedgerId, request.EntryId, context);
            return;
        }
        Connection(bookieId).Enqueue(request, callback, context);
    }

    public async Task<BookieReadResult> ReadEntryAsync(string bookieId, long ledgerId, long entryId, bool fence,
        ReadOnlyMemory<byte> masterKey, CancellationToken ct = default)
    {
        try
        {
            var client = await Connection(bookieId).GetClientAsync(ct).ConfigureAwait(false);
            var response = await client.ReadEntryAsync(new ReadEntryRequest
            {
                LedgerId = ledgerId,
                EntryId = entryId,
                Fence = fence,
                MasterKey = UnsafeByteOperations.UnsafeWrap(masterKey),
            }, deadline: Deadline(), cancellationToken: ct).ConfigureAwait(false);
            return new BookieReadResult(response.Status, response.Lac, response.Digest, response.Payload.Memory);
        }
        catch (Exception ex)
        {
            Connection(bookieId).OnCallFailed(ex);
            return BookieReadResult.Failed(StatusCode.Error);
        }
    }

    public async Task<BookieLacResult> ReadLacAsync(string bookieId, long ledgerId, CancellationToken ct = default)
    {
        try
        {
            var client = await Connection(bookieId).GetClientAsync(ct).ConfigureAwait(false);
            var response = await client.ReadLacAsync(new ReadLacRequest { LedgerId = ledgerId },
                deadline: Deadline(), cancellationToken: ct).ConfigureAwait(false);
            return new BookieLacResult(response.Status, response.Lac, response.LastEntryId, response.Fenced);
        }
        catch (Exception ex)
        {
            Connection(bookieId).OnCallFailed(ex);
            return BookieLacResult.Failed(StatusCode.Error);
        }
    }

    public async Task<BookieLacResult> FenceAsync(string bookieId, long ledgerId, ReadOnlyMemory<byte> masterKey,
        CancellationToken ct = default)
    {
        try
        {
            var client = await Connection(bookieId).GetClientAsync(ct).ConfigureAwait(false);
            var response = await client.FenceAsync(new FenceRequest
            {
                LedgerId = ledgerId,
                MasterKey = UnsafeByteOperations.UnsafeWrap(masterKey),
            }, deadline: Deadline(), cancellationToken: ct).ConfigureAwait(false);
            return new BookieLacResult(response.Status, response.Lac, response.LastEntryId, Fenced: response.Status == StatusCode.Ok);
        }
        catch (Exception ex)
        {
            Connection(bookieId).OnCallFailed(ex);
            return BookieLacResult.Failed(StatusCode.Error);
        }
    }

    private DateTime Deadline() => DateTime.UtcNow + _options.ReadTimeout;

    private BookieConnection Connection(string bookieId)
    {
        if (_connections.TryGetValue(bookieId, out var connection))
        {
            return connection;
        }
        lock (_connections)
        {
            // Created under a lock: a connection starts a writer task, so a discarded duplicate would leak one.
            if (!_connections.TryGetValue(bookieId, out connection))
            {
                connection = new BookieConnection(bookieId, this);
                _connections[bookieId] = connection;
            }
            return connection;
        }
    }

    /// <summary>
    /// The bookie's "host:port" from its registration; <paramref name="refresh"/> re-reads the directory.
    /// Null when the bookie is not registered.
    /// </summary>
    internal async ValueTask<string?> ResolveAsync(string bookieId, bool refresh, CancellationToken ct)
    {
        bool recentlyRead = Stopwatch.GetElapsedTime(Interlocked.Read(ref _lastDirectoryReadTimestamp)) < MinDirectoryRereadInterval;
        if ((!refresh || recentlyRead) && _addresses.TryGetValue(bookieId, out var cached))
        {
            return cached;
        }
        Interlocked.Exchange(ref _lastDirectoryReadTimestamp, Stopwatch.GetTimestamp());
        foreach (var info in await _directory.GetAvailableAsync(ct).ConfigureAwait(false))
        {
            if (!string.IsNullOrEmpty(info.Address))
            {
                _addresses[info.BookieId] = info.Address;
            }
        }
        return _addresses.TryGetValue(bookieId, out var address) ? address : null;
    }

    public async ValueTask DisposeAsync()
    {
        _disposed = true;
        foreach (var connection in _connections.Values)
        {
            await connection.DisposeAsync().ConfigureAwait(false);
        }
        _connections.Clear();
    }
}
