using Google.Protobuf;
using Grpc.Core;
using Grpc.Net.Client;
using Pulsarish.Protocol.Checksums;
using Pulsarish.Protocol.Bookie;
using Pulsarish.TestKit;
using StatusCode = Pulsarish.Protocol.Bookie.StatusCode;

namespace Pulsarish.Bookie.Tests.Server;

/// <summary>
/// The gRPC service over a real in-process Kestrel endpoint, backed by <see cref="InMemoryLedgerStorage"/>:
/// wire ↔ storage translation, pipelining, validation and error mapping. Durability is tested in Integration.
/// </summary>
[TestFixture]
public sealed class BookieServiceTests
{
    private static readonly byte[] Key = "master-key"u8.ToArray();
    private const int MaxEntryBytes = 64 * 1024;

    private TempDir _dir = null!;
    private InMemoryLedgerStorage _storage = null!;
    private BookieHost _server = null!;
    private GrpcChannel _channel = null!;
    private Protocol.Bookie.Bookie.BookieClient _client = null!;

    [SetUp]
    public async Task SetUp()
    {
        _dir = new TempDir("bookie-svc");
        _storage = new InMemoryLedgerStorage();
        var options = new BookieOptions
        {
            Port = 0,
            JournalDir = _dir.Sub("journal"),
            LedgersDir = _dir.Sub("ledgers"),
            IndexDir = _dir.Sub("index"),
            MaxEntryBytes = MaxEntryBytes,
            MaxInFlightAddsPerStream = 64,
            MetricsPort = 0,
        };
        _server = await BookieHost.StartAsync(options,
            new BookieHostSetup { StorageFactory = (_, _, _) => ValueTask.FromResult<Bookie.Storage.ILedgerStorage>(_storage) });
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
    public async Task HealthIsServingOnceStartedAndReflectionListsTheBookieService()
    {
        Assert.That(await GrpcProbe.HealthAsync(_server.Address), Is.EqualTo(Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving));
        Assert.That(await GrpcProbe.HealthAsync(_server.Address, "pulsarish.bookie.Bookie"),
            Is.EqualTo(Grpc.Health.V1.HealthCheckResponse.Types.ServingStatus.Serving));
        var unknown = Assert.ThrowsAsync<RpcException>(() => GrpcProbe.HealthAsync(_server.Address, "no.such.Service"));
        Assert.That(unknown!.StatusCode, Is.EqualTo(Grpc.Core.StatusCode.NotFound));
        Assert.That(await GrpcProbe.ListServicesAsync(_server.Address), Does.Contain("pulsarish.bookie.Bookie"));
    }

    [Test]
    public void BindsAnEphemeralPortOnLoopbackWhenPortIsZero()
    {
        Assert.That(_server.EndPoint.Port, Is.GreaterThan(0));
        Assert.That(_server.Address, Is.EqualTo($"127.0.0.1:{_server.EndPoint.Port}"));
        Assert.That(_server.BookieId, Is.EqualTo(_server.Address));
    }

    [Test]
    public async Task AddedEntryReadsBackWithItsLacDigestAndPayload()
    {
        byte[] payload = "hello bookie"u8.ToArray();
        var responses = await AddAllAsync([BookieRequests.Add(7, 1, 0, payload, Key, lac: -1)]);
        Assert.That(responses[0].Status, Is.EqualTo(StatusCode.Ok));
        Assert.That(responses[0].RequestId, Is.EqualTo(7UL));

        responses = await AddAllAsync([BookieRequests.Add(8, 1, 1, payload, Key, lac: 0)]);
        Assert.That(responses[0].Status, Is.EqualTo(StatusCode.Ok));

        var read = await _client.ReadEntryAsync(new ReadEntryRequest { LedgerId = 1, EntryId = 1 });
        Assert.That(read.Status, Is.EqualTo(StatusCode.Ok));
        Assert.That(read.Lac, Is.EqualTo(0));
        Assert.That(read.Payload.ToByteArray(), Is.EqualTo(payload));
        Assert.That(read.Digest, Is.EqualTo(EntryDigest.Compute(1, 1, 0, payload)));

        var lac = await _client.ReadLacAsync(new ReadLacRequest { LedgerId = 1 });
        Assert.That((lac.Status, lac.Lac, lac.LastEntryId, lac.Fenced), Is.EqualTo((StatusCode.Ok, 0L, 1L, false)));
    }

    [Test]
    public async Task PipelinedAddsOnOneStreamAreAllAcknowledged()
    {
        const int ledgers = 4;
        const int entriesPerLedger = 250;
        var requests = new List<AddRequest>();
        ulong id = 0;
        for (int e = 0; e < entriesPerLedger; e++)
        {
            for (int l = 0; l < ledgers; l++)
            {
                requests.Add(BookieRequests.Add(id++, 100 + l, e, BitConverter.GetBytes(e * 31 + l), Key, e - 1));
            }
        }

        var responses = await AddAllAsync(requests);

        Assert.That(responses, Has.Count.EqualTo(requests.Count));
        Assert.That(responses.Select(r => r.Status), Is.All.EqualTo(StatusCode.Ok));
        Assert.That(responses.Select(r => r.RequestId).Order(), Is.EqualTo(requests.Select(r => r.RequestId)));
        for (int l = 0; l < ledgers; l++)
        {
            var info = _storage.GetLedgerInfo(100 + l);
            Assert.That(info?.LastEntryId, Is.EqualTo(entriesPerLedger - 1));
        }
    }

    [Test]
    public async Task BadAddsAreAnsweredWithTheirStatusAndTheStreamKeepsServing()
    {
        byte[] ok = [1, 2, 3];
        var negativeLedger = BookieRequests.Add(1, 5, 0, ok, Key);
        negativeLedger.LedgerId = -5;
        var negativeEntry = BookieRequests.Add(2, 5, 0, ok, Key);
        negativeEntry.EntryId = -1;
        var empty = BookieRequests.Add(3, 5, 0, ok, Key);
        empty.Payload = ByteString.Empty;
        var oversize = BookieRequests.Add(4, 5, 0, new byte[MaxEntryBytes + 1], Key);
        var badDigest = BookieRequests.Add(5, 5, 0, ok, Key);
        badDigest.Digest ^= 0x1;
        var good = BookieRequests.Add(6, 5, 0, ok, Key);

        var responses = (await AddAllAsync([negativeLedger, negativeEntry, empty, oversize, badDigest, good]))
            .ToDictionary(r => r.RequestId, r => r.Status);

        Assert.That(responses[1], Is.EqualTo(StatusCode.BadRequest));
        Assert.That(responses[2], Is.EqualTo(StatusCode.BadRequest));
        Assert.That(responses[3], Is.EqualTo(StatusCode.BadRequest));
        Assert.That(responses[4], Is.EqualTo(StatusCode.TooLarge));
        Assert.That(responses[5], Is.EqualTo(StatusCode.BadRequest));
        Assert.That(responses[6], Is.EqualTo(StatusCode.Ok));
        Assert.That(_storage.Adds, Is.EqualTo(1), "only the good add reaches storage");
    }

    [Test]
    public async Task ClientVanishingWithAddsInFlightDoesNotDisturbTheBookie()
    {
        using (var cts = new CancellationTokenSource())
        {
            var call = _client.Add(cancellationToken: cts.Token);
            for (int e = 0; e < 200; e++)
            {
                await call.RequestStream.WriteAsync(BookieRequests.Add((ulong)e, 60, e, [1, 2], Key));
            }

            cts.Cancel();
            call.Dispose();
        }

        var deadline = DateTime.UtcNow.AddSeconds(10);
        while (_server.State.OpenAddStreams > 0 && DateTime.UtcNow < deadline)
        {
            await Task.Delay(10);
        }

        Assert.That(_server.State.OpenAddStreams, Is.EqualTo(0), "the abandoned stream ends on the server too");
        Assert.That(_server.State.AddsInFlight, Is.EqualTo(0), "every add handed to storage completed");
        var after = await AddAllAsync([BookieRequests.Add(1, 61, 0, [1], Key)]);
        Assert.That(after[0].Status, Is.EqualTo(StatusCode.Ok));
    }

    [Test]
    public async Task AddIsAcknowledgedOnlyAfterStorageMadeItDurable()
    {
        // DESIGN §3.3: a bookie acknowledges an add only after the entry is durable in its journal.
        var gate = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        _storage.DurabilityGate = gate;
        using var call = _client.Add();
        await call.RequestStream.WriteAsync(BookieRequests.Add(1, 21, 0, [1, 2, 3], Key));
        var next = call.ResponseStream.MoveNext(CancellationToken.None);

        await Task.WhenAny(next, Task.Delay(TimeSpan.FromMilliseconds(500)));
        Assert.That(next.IsCompleted, Is.False, "the add was answered before storage completed it");
        Assert.That(Volatile.Read(ref _storage.Adds), Is.EqualTo(1), "the add reached storage");

        gate.SetResult();
        Assert.That(await next.WaitAsync(TimeSpan.FromSeconds(10)), Is.True);
        Assert.That((call.ResponseStream.Current.RequestId, call.ResponseStream.Current.Status), Is.EqualTo((1UL, StatusCode.Ok)));
        await call.RequestStream.CompleteAsync();
    }

    [Test]
    public async Task StorageFailureIsAnsweredErrorWithoutEndingTheStream()
    {
        _storage.FailingEntryId = 1;
        var responses = (await AddAllAsync([
            BookieRequests.Add(1, 9, 0, [1], Key),
            BookieRequests.Add(2, 9, 1, [2], Key),
            BookieRequests.Add(3, 9, 2, [3], Key),
        ])).ToDictionary(r => r.RequestId, r => r.Status);

        Assert.That(responses[1], Is.EqualTo(StatusCode.Ok));
        Assert.That(responses[2], Is.EqualTo(StatusCode.Error));
        Assert.That(responses[3], Is.EqualTo(StatusCode.Ok));
    }

    [Test]
    public async Task ReadsOfUnknownLedgerOrEntryAnswerNoSuchLedgerOrEntry()
    {
        await AddAllAsync([BookieRequests.Add(1, 3, 0, [1], Key)]);

        var noLedger = await _client.ReadEntryAsync(new ReadEntryRequest { LedgerId = 404, EntryId = 0 });
        var noEntry = await _client.ReadEntryAsync(new ReadEntryRequest { LedgerId = 3, EntryId = 1 });
        var negative = await _client.ReadEntryAsync(new ReadEntryRequest { LedgerId = 3, EntryId = -1 });
        var noLac = await _client.ReadLacAsync(new ReadLacRequest { LedgerId = 404 });

        Assert.That(noLedger.Status, Is.EqualTo(StatusCode.NoSuchLedger));
        Assert.That(noEntry.Status, Is.EqualTo(StatusCode.NoSuchEntry));
        Assert.That(negative.Status, Is.EqualTo(StatusCode.BadRequest));
        Assert.That((noLac.Status, noLac.Lac, noLac.LastEntryId), Is.EqualTo((StatusCode.NoSuchLedger, -1L, -1L)));
    }

    [Test]
    public async Task FencedLedgerRefusesNormalAddsAcceptsRecoveryAddsAndChecksTheMasterKey()
    {
        await AddAllAsync([BookieRequests.Add(1, 11, 0, [1], Key), BookieRequests.Add(2, 11, 1, [2], Key, lac: 0)]);

        var fence = await _client.FenceAsync(new FenceRequest { LedgerId = 11, MasterKey = ByteString.CopyFrom(Key) });
        Assert.That((fence.Status, fence.Lac, fence.LastEntryId), Is.EqualTo((StatusCode.Ok, 0L, 1L)));

        var wrongKey = await _client.FenceAsync(new FenceRequest { LedgerId = 11, MasterKey = ByteString.CopyFromUtf8("x") });
        Assert.That(wrongKey.Status, Is.EqualTo(StatusCode.Unauthorized));

        var responses = (await AddAllAsync([
            BookieRequests.Add(3, 11, 2, [3], Key, lac: 1),
            BookieRequests.Add(4, 11, 2, [3], Key, lac: 1, recovery: true),
        ])).ToDictionary(r => r.RequestId, r => r.Status);
        Assert.That(responses[3], Is.EqualTo(StatusCode.Fenced));
        Assert.That(responses[4], Is.EqualTo(StatusCode.Ok));

        var lac = await _client.ReadLacAsync(new ReadLacRequest { LedgerId = 11 });
        Assert.That(lac.Fenced, Is.True);
    }

    [Test]
    public async Task RecoveryReadFencesTheLedgerBeforeReading()
    {
        await AddAllAsync([BookieRequests.Add(1, 12, 0, [1], Key)]);

        var read = await _client.ReadEntryAsync(new ReadEntryRequest
        {
            LedgerId = 12, EntryId = 1, Fence = true, MasterKey = ByteString.CopyFrom(Key),
        });

        Assert.That(read.Status, Is.EqualTo(StatusCode.NoSuchEntry));
        Assert.That(_storage.GetLedgerInfo(12)?.Fenced, Is.True);
        var late = await AddAllAsync([BookieRequests.Add(2, 12, 1, [2], Key)]);
        Assert.That(late[0].Status, Is.EqualTo(StatusCode.Fenced));
    }

    [Test]
    public async Task ReadRangeStopsAtTheFirstMissingEntryAndAtMaxBytes()
    {
        var adds = new List<AddRequest>();
        for (int e = 0; e < 5; e++)
        {
            adds.Add(BookieRequests.Add((ulong)e, 20, e, new byte[100], Key, e - 1));
        }

        await AddAllAsync(adds);

        var all = await ReadRangeAsync(new ReadRangeRequest { LedgerId = 20, FirstEntryId = 1, LastEntryId = 9 });
        Assert.That(all.Select(r => r.EntryId), Is.EqualTo(new long[] { 1, 2, 3, 4, 5 }));
        Assert.That(all.Take(4).Select(r => r.Status), Is.All.EqualTo(StatusCode.Ok));
        Assert.That(all[^1].Status, Is.EqualTo(StatusCode.NoSuchEntry));

        var capped = await ReadRangeAsync(new ReadRangeRequest { LedgerId = 20, FirstEntryId = 0, LastEntryId = 4, MaxBytes = 250 });
        Assert.That(capped.Select(r => r.EntryId), Is.EqualTo(new long[] { 0, 1 }));

        var bad = await ReadRangeAsync(new ReadRangeRequest { LedgerId = 20, FirstEntryId = 3, LastEntryId = 1 });
        Assert.That(bad.Single().Status, Is.EqualTo(StatusCode.BadRequest));
    }

    [Test]
    public async Task GarbageBytesOnTheWireFailTheCallButNotTheServer()
    {
        byte[] garbage = [0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x12, 0x34, 0xFA, 0xCE];

        var unary = await BookieRequests.SendRawAsync(_channel, "ReadEntry", garbage);
        var stream = await BookieRequests.SendRawAddAsync(_channel, garbage);

        Assert.That(unary.StatusCode, Is.Not.EqualTo(Grpc.Core.StatusCode.OK));
        Assert.That(stream.StatusCode, Is.Not.EqualTo(Grpc.Core.StatusCode.OK));
        var after = await AddAllAsync([BookieRequests.Add(1, 30, 0, [1], Key)]);
        Assert.That(after[0].Status, Is.EqualTo(StatusCode.Ok));
    }

    [Test]
    public async Task GetInfoReportsIdentityAndDisk()
    {
        var info = await _client.GetInfoAsync(new BookieInfoRequest());

        Assert.That(info.BookieId, Is.EqualTo(_server.BookieId));
        Assert.That(info.TotalDiskBytes, Is.GreaterThan(0));
        Assert.That(info.FreeDiskBytes, Is.InRange(1, info.TotalDiskBytes));
        Assert.That(info.ReadOnly, Is.False);
        Assert.That(info.AllocatedBytes, Is.GreaterThan(0));
    }

    [Test]
    public async Task StoppedBookieAnswersNoMoreAndStopIsIdempotent()
    {
        await _server.StopAsync();
        await _server.StopAsync();

        Assert.ThrowsAsync<RpcException>(async () =>
            await _client.GetInfoAsync(new BookieInfoRequest(), deadline: DateTime.UtcNow.AddSeconds(5)));
    }

    [Test]
    public async Task StopEndsOpenAddStreamsAfterAnsweringWhatTheyRead()
    {
        using var call = _client.Add(deadline: DateTime.UtcNow.AddSeconds(30));
        await call.RequestStream.WriteAsync(BookieRequests.Add(1, 40, 0, [1], Key));
        Assert.That(await call.ResponseStream.MoveNext(CancellationToken.None), Is.True);
        Assert.That(call.ResponseStream.Current.Status, Is.EqualTo(StatusCode.Ok));

        // A writer reads responses concurrently, as the ledger client does.
        var next = call.ResponseStream.MoveNext(CancellationToken.None);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await _server.StopAsync();

        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)), "an idle open stream must not hold the stop");
        var ended = Assert.ThrowsAsync<RpcException>(async () => await next);
        Assert.That(ended!.StatusCode, Is.EqualTo(Grpc.Core.StatusCode.Unavailable), ended.Status.ToString());
    }

    [Test]
    public async Task MetricsEndpointServesAddLatencyOverHttp1()
    {
        await AddAllAsync([BookieRequests.Add(1, 50, 0, [1], Key)]);
        using var http = new HttpClient();

        string text = await http.GetStringAsync($"http://127.0.0.1:{_server.MetricsPort}/metrics");

        Assert.That(text, Does.Contain("pulsarish_bookie_add_latency_seconds_count 1"));
        Assert.That(text, Does.Contain("pulsarish_bookie_adds_total{status=\"Ok\"} 1"));
    }

    private async Task<List<AddResponse>> AddAllAsync(IReadOnlyList<AddRequest> requests)
    {
        using var call = _client.Add(deadline: DateTime.UtcNow.AddSeconds(30));
        var reading = Task.Run(async () =>
        {
            var responses = new List<AddResponse>();
            await foreach (var response in call.ResponseStream.ReadAllAsync())
            {
                responses.Add(response);
            }

            return responses;
        });
        foreach (var request in requests)
        {
            await call.RequestStream.WriteAsync(request);
        }

        await call.RequestStream.CompleteAsync();
        return await reading;
    }

    private async Task<List<ReadEntryResponse>> ReadRangeAsync(ReadRangeRequest request)
    {
        using var call = _client.ReadRange(request, deadline: DateTime.UtcNow.AddSeconds(30));
        var responses = new List<ReadEntryResponse>();
        await foreach (var response in call.ResponseStream.ReadAllAsync())
        {
            responses.Add(response);
        }

        return responses;
    }
}
