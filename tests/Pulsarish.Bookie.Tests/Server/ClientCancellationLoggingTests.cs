using System.Collections.Concurrent;
using Grpc.Net.Client;
using Microsoft.Extensions.Logging;
using Pulsarish.Protocol.Bookie;
using Pulsarish.TestKit;

namespace Pulsarish.Bookie.Tests.Server;

/// <summary>
/// A client that cancels its call (a broker closing a ledger or shutting down cancels its reads and add streams) is
/// expected: the bookie logs it at Debug, never as an error — neither its own code nor ASP.NET Core's gRPC handler.
/// </summary>
[TestFixture]
public sealed class ClientCancellationLoggingTests
{
    private static readonly byte[] Key = "master-key"u8.ToArray();

    private TempDir _dir = null!;
    private InMemoryLedgerStorage _storage = null!;
    private CapturingLoggerProvider _logs = null!;
    private BookieHost _server = null!;
    private GrpcChannel _channel = null!;
    private Protocol.Bookie.Bookie.BookieClient _client = null!;

    [SetUp]
    public async Task SetUp()
    {
        _dir = new TempDir("bookie-cancel");
        _storage = new InMemoryLedgerStorage();
        _logs = new CapturingLoggerProvider();
        var options = new BookieOptions
        {
            Port = 0,
            JournalDir = _dir.Sub("journal"),
            LedgersDir = _dir.Sub("ledgers"),
            IndexDir = _dir.Sub("index"),
            MaxEntryBytes = 1024 * 1024,
            MetricsPort = 0,
        };
        _server = await BookieHost.StartAsync(options, new BookieHostSetup
        {
            StorageFactory = (_, _, _) => ValueTask.FromResult<Bookie.Storage.ILedgerStorage>(_storage),
            ConfigureLogging = logging => logging.SetMinimumLevel(LogLevel.Debug).AddProvider(_logs),
        });
        _channel = BookieRequests.Channel(_server.Address);
        _client = new Protocol.Bookie.Bookie.BookieClient(_channel);
    }

    [TearDown]
    public async Task TearDown()
    {
        _channel.Dispose();
        await _server.DisposeAsync();
        _dir.Dispose();
    }

    [Test]
    public async Task CancelledReadRangeIsNotLoggedAsAnError()
    {
        byte[] payload = new byte[256 * 1024];
        using (var add = _client.Add())
        {
            for (int e = 0; e < 16; e++) await add.RequestStream.WriteAsync(BookieRequests.Add((ulong)e, 70, e, payload, Key));
            for (int e = 0; e < 16; e++)
            {
                Assert.That(await add.ResponseStream.MoveNext(CancellationToken.None), Is.True);
                Assert.That(add.ResponseStream.Current.Status, Is.EqualTo(StatusCode.Ok));
            }
            await add.RequestStream.CompleteAsync();
        }

        using (var cts = new CancellationTokenSource())
        {
            // The server blocks on flow control after a few entries; the client takes one and walks away.
            using var read = _client.ReadRange(new ReadRangeRequest { LedgerId = 70, FirstEntryId = 0, LastEntryId = 15 },
                cancellationToken: cts.Token);
            Assert.That(await read.ResponseStream.MoveNext(CancellationToken.None), Is.True);
            cts.Cancel();
        }

        await WaitForCallEndAsync("ReadRange");
        Assert.That(_logs.Errors, Is.Empty);
    }

    [Test]
    public async Task CancelledAddStreamIsNotLoggedAsAnError()
    {
        using (var cts = new CancellationTokenSource())
        {
            using var add = _client.Add(cancellationToken: cts.Token);
            await add.RequestStream.WriteAsync(BookieRequests.Add(1, 71, 0, [1, 2, 3], Key));
            Assert.That(await add.ResponseStream.MoveNext(CancellationToken.None), Is.True);
            cts.Cancel();
        }

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (_server.State.OpenAddStreams > 0 && DateTime.UtcNow < deadline) await Task.Delay(10);
        Assert.That(_server.State.OpenAddStreams, Is.EqualTo(0), "the cancelled stream ended on the server");
        await WaitForCallEndAsync("Add");
        Assert.That(_logs.Errors, Is.Empty);
    }

    /// <summary>Waits until ASP.NET Core logged the end of a call to <paramref name="method"/> (its request finished).</summary>
    private async Task WaitForCallEndAsync(string method)
    {
        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (!_logs.Messages.Any(m => m.Contains("Request finished", StringComparison.Ordinal) && m.Contains("/" + method, StringComparison.Ordinal))
               && DateTime.UtcNow < deadline)
        {
            await Task.Delay(20);
        }
        // Handlers log after the request ends, too: a short grace period.
        await Task.Delay(200);
    }

    /// <summary>Collects every log entry of the bookie process's logger factory.</summary>
    private sealed class CapturingLoggerProvider : ILoggerProvider
    {
        private readonly ConcurrentQueue<(LogLevel Level, string Category, string Message)> _entries = new();

        public IEnumerable<string> Errors => _entries.Where(e => e.Level >= LogLevel.Error).Select(e => $"{e.Category}: {e.Message}");

        public IEnumerable<string> Messages => _entries.Select(e => e.Message);

        public ILogger CreateLogger(string categoryName) => new Logger(this, categoryName);

        public void Dispose()
        {
        }

        private sealed class Logger(CapturingLoggerProvider owner, string category) : ILogger
        {
            public IDisposable? BeginScope<TState>(TState state) where TState : notnull => null;

            public bool IsEnabled(LogLevel logLevel) => true;

            public void Log<TState>(LogLevel logLevel, EventId eventId, TState state, Exception? exception,
                Func<TState, Exception?, string> formatter) =>
                owner._entries.Enqueue((logLevel, category, formatter(state, exception) + (exception is null ? "" : " " + exception.Message)));
        }
    }
}
