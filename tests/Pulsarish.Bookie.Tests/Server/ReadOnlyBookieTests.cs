using Pulsarish.TestKit;
using StatusCode = Pulsarish.Protocol.Bookie.StatusCode;

namespace Pulsarish.Bookie.Tests.Server;

/// <summary>A bookie whose disk is beyond DiskUsageThreshold turns read-only: it refuses normal adds only.</summary>
[TestFixture]
public sealed class ReadOnlyBookieTests
{
    [Test]
    public async Task DiskBeyondThresholdRefusesNormalAddsButTakesRecoveryAdds()
    {
        using var dir = new TempDir("bookie-ro");
        var storage = new InMemoryLedgerStorage();
        await using var server = await BookieHost.StartAsync(new BookieOptions
        {
            Port = 0,
            JournalDir = dir.Sub("j"),
            LedgersDir = dir.Sub("l"),
            IndexDir = dir.Sub("i"),
            // Any disk with a byte in use is "full" at this threshold.
            DiskUsageThreshold = 1e-12,
            DiskUsageLwmThreshold = 1e-12,
        }, new BookieHostSetup { StorageFactory = (_, _, _) => ValueTask.FromResult<Bookie.Storage.ILedgerStorage>(storage) });
        using var channel = BookieRequests.Channel(server.Address);
        var client = new Protocol.Bookie.Bookie.BookieClient(channel);
        byte[] key = [1];

        using var call = client.Add(deadline: DateTime.UtcNow.AddSeconds(30));
        await call.RequestStream.WriteAsync(BookieRequests.Add(1, 1, 0, [1], key));
        await call.RequestStream.WriteAsync(BookieRequests.Add(2, 1, 0, [1], key, recovery: true));
        await call.RequestStream.CompleteAsync();
        var statuses = new Dictionary<ulong, StatusCode>();
        while (await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            statuses[call.ResponseStream.Current.RequestId] = call.ResponseStream.Current.Status;
        }

        Assert.That(server.State.ReadOnly, Is.True);
        Assert.That(statuses[1], Is.EqualTo(StatusCode.ReadOnly));
        Assert.That(statuses[2], Is.EqualTo(StatusCode.Ok));
        var info = await client.GetInfoAsync(new Protocol.Bookie.BookieInfoRequest());
        Assert.That(info.ReadOnly, Is.True);
    }
}
