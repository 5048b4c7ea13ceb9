using Google.Protobuf;
using Grpc.Core;
using Pulsarish.Protocol.Bookie;
using Pulsarish.TestKit;
using StatusCode = Pulsarish.Protocol.Bookie.StatusCode;

namespace Pulsarish.Integration.Tests.Bookie;

/// <summary>DESIGN §4 step 2 over gRPC on a real bookie process: a fence is durable and refuses the old writer.</summary>
[TestFixture]
[NonParallelizable]
public sealed class BookieFencingTests
{
    private static readonly byte[] Key = "fence-key"u8.ToArray();
    private const long Ledger = 77;

    [Test]
    public async Task FencedLedgerRefusesNormalAddsAcceptsRecoveryAddsAndStaysFencedAfterKill9()
    {
        await using var bookie = await BookieProcess.StartAsync();
        using (var channel = BookieRequests.Channel(bookie.Address))
        {
            var client = new Protocol.Bookie.Bookie.BookieClient(channel);
            var before = await AddAsync(client,
                BookieRequests.Add(1, Ledger, 0, [10], Key), BookieRequests.Add(2, Ledger, 1, [11], Key, lac: 0));
            Assert.That(before, Is.All.EqualTo(StatusCode.Ok), bookie.Log);

            var fence = await client.FenceAsync(new FenceRequest { LedgerId = Ledger, MasterKey = ByteString.CopyFrom(Key) });
            Assert.That((fence.Status, fence.Lac, fence.LastEntryId), Is.EqualTo((StatusCode.Ok, 0L, 1L)));

            var wrongKey = await client.FenceAsync(new FenceRequest { LedgerId = Ledger, MasterKey = ByteString.CopyFromUtf8("thief") });
            Assert.That(wrongKey.Status, Is.EqualTo(StatusCode.Unauthorized));
            var wrongKeyRead = await client.ReadEntryAsync(new ReadEntryRequest
            {
                LedgerId = Ledger, EntryId = 0, Fence = true, MasterKey = ByteString.CopyFromUtf8("thief"),
            });
            Assert.That(wrongKeyRead.Status, Is.EqualTo(StatusCode.Unauthorized));

            var after = await AddAsync(client,
                BookieRequests.Add(3, Ledger, 2, [12], Key, lac: 1),
                BookieRequests.Add(4, Ledger, 2, [12], Key, lac: 1, recovery: true));
            Assert.That(after, Is.EqualTo(new[] { StatusCode.Fenced, StatusCode.Ok }));
        }

        bookie.Kill9();
        await bookie.RestartAsync();

        using (var channel = BookieRequests.Channel(bookie.Address))
        {
            var client = new Protocol.Bookie.Bookie.BookieClient(channel);
            var lac = await client.ReadLacAsync(new ReadLacRequest { LedgerId = Ledger });
            Assert.That(lac.Fenced, Is.True, "the fence is journaled, so it survives SIGKILL");
            Assert.That(lac.LastEntryId, Is.EqualTo(2));

            var late = await AddAsync(client, BookieRequests.Add(5, Ledger, 3, [13], Key, lac: 2));
            Assert.That(late, Is.EqualTo(new[] { StatusCode.Fenced }));

            var recovered = await client.ReadEntryAsync(new ReadEntryRequest { LedgerId = Ledger, EntryId = 2 });
            Assert.That((recovered.Status, recovered.Payload.ToByteArray()), Is.EqualTo((StatusCode.Ok, new byte[] { 12 })));
        }
    }

    [Test]
    public async Task RecoveryReadOfAnUnknownLedgerFencesItAgainstItsFirstWriter()
    {
        await using var bookie = await BookieProcess.StartAsync();
        using var channel = BookieRequests.Channel(bookie.Address);
        var client = new Protocol.Bookie.Bookie.BookieClient(channel);

        var read = await client.ReadEntryAsync(new ReadEntryRequest
        {
            LedgerId = 99, EntryId = 0, Fence = true, MasterKey = ByteString.CopyFrom(Key),
        });
        var add = await AddAsync(client, BookieRequests.Add(1, 99, 0, [1], Key));

        Assert.That(read.Status, Is.EqualTo(StatusCode.NoSuchEntry));
        Assert.That(add, Is.EqualTo(new[] { StatusCode.Fenced }));
    }

    private static async Task<StatusCode[]> AddAsync(Protocol.Bookie.Bookie.BookieClient client, params AddRequest[] requests)
    {
        using var call = client.Add(deadline: DateTime.UtcNow.AddSeconds(30));
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
