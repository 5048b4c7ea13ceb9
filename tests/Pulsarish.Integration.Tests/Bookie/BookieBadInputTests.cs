using Google.Protobuf;
using Grpc.Core;
using Pulsarish.Protocol.Bookie;
using Pulsarish.TestKit;
using StatusCode = Pulsarish.Protocol.Bookie.StatusCode;

namespace Pulsarish.Integration.Tests.Bookie;

/// <summary>
/// Wire input crosses a trust boundary: a real bookie answers bad requests with their status, survives malformed
/// protobuf, and keeps serving good requests on the same stream and process.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class BookieBadInputTests
{
    private const int MaxEntryBytes = 64 * 1024;
    private static readonly byte[] Key = "bad-input-key"u8.ToArray();

    private BookieProcess _bookie = null!;
    private Grpc.Net.Client.GrpcChannel _channel = null!;
    private Protocol.Bookie.Bookie.BookieClient _client = null!;

    [OneTimeSetUp]
    public async Task StartBookie()
    {
        _bookie = await BookieProcess.StartAsync(extraArgs: ["--max-entry-bytes", MaxEntryBytes.ToString()]);
        _channel = BookieRequests.Channel(_bookie.Address);
        _client = new Protocol.Bookie.Bookie.BookieClient(_channel);
    }

    [OneTimeTearDown]
    public async Task StopBookie()
    {
        _channel.Dispose();
        await _bookie.DisposeAsync();
    }

    [Test]
    public async Task BadAddsGetTheirStatusAndAGoodAddAfterwardsSucceeds()
    {
        byte[] ok = [1, 2, 3];
        var negativeLedger = BookieRequests.Add(1, 5, 0, ok, Key);
        negativeLedger.LedgerId = -1;
        var negativeEntry = BookieRequests.Add(2, 5, 0, ok, Key);
        negativeEntry.EntryId = -7;
        var empty = BookieRequests.Add(3, 5, 0, ok, Key);
        empty.Payload = ByteString.Empty;
        var oversize = BookieRequests.Add(4, 5, 0, new byte[MaxEntryBytes + 1], Key);
        var badDigest = BookieRequests.Add(5, 5, 0, ok, Key);
        badDigest.Digest = ~badDigest.Digest;
        var good = BookieRequests.Add(6, 5, 0, ok, Key);

        var statuses = await AddAsync(negativeLedger, negativeEntry, empty, oversize, badDigest, good);

        Assert.That(statuses, Is.EqualTo(new[]
        {
            StatusCode.BadRequest, StatusCode.BadRequest, StatusCode.BadRequest, StatusCode.TooLarge,
            StatusCode.BadRequest, StatusCode.Ok,
        }), _bookie.Log);
        var read = await _client.ReadEntryAsync(new ReadEntryRequest { LedgerId = 5, EntryId = 0 });
        Assert.That(read.Payload.ToByteArray(), Is.EqualTo(ok));
    }

    [Test]
    public async Task ReadsOfUnknownLedgersAndEntriesAnswerNoSuchLedgerAndNoSuchEntry()
    {
        Assert.That(await AddAsync(BookieRequests.Add(1, 6, 0, [6], Key)), Is.EqualTo(new[] { StatusCode.Ok }));

        var noLedger = await _client.ReadEntryAsync(new ReadEntryRequest { LedgerId = 123_456, EntryId = 0 });
        var noEntry = await _client.ReadEntryAsync(new ReadEntryRequest { LedgerId = 6, EntryId = 1 });
        var negative = await _client.ReadEntryAsync(new ReadEntryRequest { LedgerId = -6, EntryId = 0 });
        var noLac = await _client.ReadLacAsync(new ReadLacRequest { LedgerId = 123_456 });
        var badFence = await _client.FenceAsync(new FenceRequest { LedgerId = -1 });

        Assert.That(noLedger.Status, Is.EqualTo(StatusCode.NoSuchLedger));
        Assert.That(noEntry.Status, Is.EqualTo(StatusCode.NoSuchEntry));
        Assert.That(negative.Status, Is.EqualTo(StatusCode.BadRequest));
        Assert.That(noLac.Status, Is.EqualTo(StatusCode.NoSuchLedger));
        Assert.That(badFence.Status, Is.EqualTo(StatusCode.BadRequest));
    }

    [Test]
    public async Task GarbageBytesOnTheWireFailTheCallAndTheBookieKeepsServing()
    {
        byte[] garbage = [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0xFF, 0x01, 0x07, 0x07, 0x07];

        var unary = await BookieRequests.SendRawAsync(_channel, "ReadEntry", garbage);
        var stream = await BookieRequests.SendRawAddAsync(_channel, garbage);
        var fence = await BookieRequests.SendRawAsync(_channel, "Fence", [0xFF]);

        Assert.That(unary.StatusCode, Is.Not.EqualTo(Grpc.Core.StatusCode.OK));
        Assert.That(stream.StatusCode, Is.Not.EqualTo(Grpc.Core.StatusCode.OK));
        Assert.That(fence.StatusCode, Is.Not.EqualTo(Grpc.Core.StatusCode.OK));
        Assert.That(_bookie.IsRunning, Is.True, _bookie.Log);
        Assert.That(await AddAsync(BookieRequests.Add(1, 7, 0, [7], Key)), Is.EqualTo(new[] { StatusCode.Ok }));
        var info = await _client.GetInfoAsync(new BookieInfoRequest());
        Assert.That(info.BookieId, Is.EqualTo(_bookie.Address));
    }

    private async Task<StatusCode[]> AddAsync(params AddRequest[] requests)
    {
        using var call = _client.Add(deadline: DateTime.UtcNow.AddSeconds(30));
        var statuses = new Dictionary<ulong, StatusCode>();
        foreach (var request in requests)
        {
            await call.RequestStream.WriteAsync(request);
        }

        await call.RequestStream.CompleteAsync();
        await foreach (var response in call.ResponseStream.ReadAllAsync())
        {
            statuses[response.RequestId] = response.Status;
        }

        return requests.Select(r => statuses[r.RequestId]).ToArray();
    }
}
