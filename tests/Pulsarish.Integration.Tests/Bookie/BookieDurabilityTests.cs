using System.Collections.Concurrent;
using System.Diagnostics;
using System.Security.Cryptography;
using Grpc.Core;
using Pulsarish.Protocol.Checksums;
using Pulsarish.Protocol.Bookie;
using Pulsarish.TestKit;
using StatusCode = Pulsarish.Protocol.Bookie.StatusCode;

namespace Pulsarish.Integration.Tests.Bookie;

/// <summary>
/// DESIGN §3.3 / §5: an add acknowledged by a bookie is in its fsync'd journal, so it survives SIGKILL of the bookie
/// process at any moment. Real `pulsarish bookie` processes, real files, real fsync.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class BookieDurabilityTests
{
    private const int Writers = 8;
    private const int LedgersPerWriter = 2;
    private const int PipelineDepth = 16;
    private static readonly byte[] Key = "durability-key"u8.ToArray();

    public enum KillPoint
    {
        After200Ms,
        After1S,
        RightAfterWriteCacheFlush,
    }

    // Journal and entry logs append with O_DIRECT by default on this file system; one kill point also runs the
    // page-cache path (--buffered-writes).
    [TestCase(KillPoint.After200Ms, false)]
    [TestCase(KillPoint.After1S, false)]
    [TestCase(KillPoint.RightAfterWriteCacheFlush, false)]
    [TestCase(KillPoint.RightAfterWriteCacheFlush, true)]
    public async Task AcknowledgedEntriesSurviveKill9(KillPoint killPoint, bool bufferedWrites)
    {
        int seed = TestSeed.Use();
        TestContext.Progress.WriteLine($"{TestSeed.Describe(seed)}, kill point {killPoint}, buffered writes {bufferedWrites}");
        await using var bookie = await BookieProcess.StartAsync(extraArgs: bufferedWrites ? ["--buffered-writes"] : []);
        var acknowledged = new ConcurrentDictionary<(long Ledger, long Entry), byte[]>();
        using var stop = new CancellationTokenSource();
        var firstAck = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        long ledgerBase = 1_000 + (seed & 0xFFFF) * 100L;

        using (var channel = BookieRequests.Channel(bookie.Address))
        {
            var client = new Protocol.Bookie.Bookie.BookieClient(channel);
            var writers = new Task[Writers];
            for (int w = 0; w < Writers; w++)
            {
                writers[w] = WriteUntilKilledAsync(client, ledgerBase + w * LedgersPerWriter, seed + w, acknowledged,
                    firstAck, stop.Token);
            }

            await firstAck.Task.WaitAsync(TimeSpan.FromSeconds(30));
            switch (killPoint)
            {
                case KillPoint.After200Ms:
                    await Task.Delay(200);
                    break;
                case KillPoint.After1S:
                    await Task.Delay(1_000);
                    break;
                case KillPoint.RightAfterWriteCacheFlush:
                    await WaitForFlushAsync(bookie, TimeSpan.FromSeconds(20));
                    break;
            }

            bookie.Kill9();
            stop.Cancel();
            await Task.WhenAll(writers).WaitAsync(TimeSpan.FromSeconds(30));
        }

        Assert.That(acknowledged, Is.Not.Empty, bookie.Log);
        TestContext.Progress.WriteLine($"{acknowledged.Count} acknowledged adds before SIGKILL");

        await bookie.RestartAsync();
        using (var channel = BookieRequests.Channel(bookie.Address))
        {
            var client = new Protocol.Bookie.Bookie.BookieClient(channel);
            var missing = await FindLostOrAlteredAsync(client, acknowledged);
            Assert.That(missing, Is.Empty, $"acknowledged entries lost or altered after kill -9 (seed {seed}); log:\n{bookie.Log}");
        }
    }

    [Test]
    public async Task GracefulStopKeepsEveryEntryAndExitsZero()
    {
        await using var bookie = await BookieProcess.StartAsync();
        var acknowledged = new ConcurrentDictionary<(long Ledger, long Entry), byte[]>();
        using (var channel = BookieRequests.Channel(bookie.Address))
        {
            var client = new Protocol.Bookie.Bookie.BookieClient(channel);
            using var call = client.Add();
            for (int e = 0; e < 50; e++)
            {
                byte[] payload = RandomNumberGenerator.GetBytes(64 + e);
                await call.RequestStream.WriteAsync(BookieRequests.Add((ulong)e, 42, e, payload, Key, e - 1));
                acknowledged[(42, e)] = payload;
            }

            await call.RequestStream.CompleteAsync();
            await foreach (var response in call.ResponseStream.ReadAllAsync())
            {
                Assert.That(response.Status, Is.EqualTo(StatusCode.Ok));
            }
        }

        int exitCode = await bookie.StopAsync();
        Assert.That(exitCode, Is.EqualTo(0), bookie.Log);
        Assert.That(bookie.Log, Does.Contain("bookie stopped"));

        await bookie.RestartAsync();
        using (var channel = BookieRequests.Channel(bookie.Address))
        {
            var missing = await FindLostOrAlteredAsync(new Protocol.Bookie.Bookie.BookieClient(channel), acknowledged);
            Assert.That(missing, Is.Empty, bookie.Log);
        }
    }

    /// <summary>One writer: an Add stream over <see cref="LedgersPerWriter"/> ledgers, pipelined, until killed.</summary>
    private static async Task WriteUntilKilledAsync(Protocol.Bookie.Bookie.BookieClient client, long firstLedger,
        int seed, ConcurrentDictionary<(long, long), byte[]> acknowledged, TaskCompletionSource firstAck,
        CancellationToken stop)
    {
        var random = new Random(seed);
        var sent = new ConcurrentDictionary<ulong, (long Ledger, long Entry, byte[] Payload)>();
        using var window = new SemaphoreSlim(PipelineDepth, PipelineDepth);
        try
        {
            using var call = client.Add(cancellationToken: stop);
            var reading = Task.Run(async () =>
            {
                await foreach (var response in call.ResponseStream.ReadAllAsync(stop))
                {
                    if (sent.TryRemove(response.RequestId, out var add) && response.Status == StatusCode.Ok)
                    {
                        acknowledged[(add.Ledger, add.Entry)] = add.Payload;
                        firstAck.TrySetResult();
                    }

                    window.Release();
                }
            }, CancellationToken.None);

            var nextEntry = new long[LedgersPerWriter];
            for (ulong requestId = 0; !stop.IsCancellationRequested; requestId++)
            {
                await window.WaitAsync(stop);
                int l = (int)(requestId % LedgersPerWriter);
                long ledger = firstLedger + l;
                long entry = nextEntry[l]++;
                byte[] payload = new byte[random.Next(1, 3_000)];
                random.NextBytes(payload);
                sent[requestId] = (ledger, entry, payload);
                await call.RequestStream.WriteAsync(
                    BookieRequests.Add(requestId, ledger, entry, payload, Key, lac: Math.Max(-1, entry - PipelineDepth - 1)),
                    stop);
            }

            await reading;
        }
        catch (Exception ex) when (ex is RpcException or OperationCanceledException or IOException
                                       or InvalidOperationException or ObjectDisposedException)
        {
            // The bookie was killed under us: the acks received so far are what counts.
        }
    }

    /// <summary>
    /// Polls the entry log files until they grow, i.e. a write-cache flush is appending (entry logs are not
    /// preallocated); the kill then lands during or right after the flush, before or around its checkpoint.
    /// </summary>
    private static async Task WaitForFlushAsync(BookieProcess bookie, TimeSpan timeout)
    {
        string before = Snapshot(bookie);
        var clock = Stopwatch.StartNew();
        while (clock.Elapsed < timeout)
        {
            await Task.Delay(5);
            if (Snapshot(bookie) != before)
            {
                return;
            }
        }

        Assert.Fail($"no write-cache flush observed within {timeout}; log:\n{bookie.Log}");
    }

    private static string Snapshot(BookieProcess bookie)
    {
        var parts = new List<string>();
        if (Directory.Exists(bookie.LedgersDir))
        {
            foreach (var file in new DirectoryInfo(bookie.LedgersDir).EnumerateFiles("*.log"))
            {
                try
                {
                    parts.Add($"{file.Name}:{file.Length}");
                }
                catch (IOException)
                {
                    parts.Add(file.Name);
                }
            }
        }

        parts.Sort(StringComparer.Ordinal);
        return string.Join('|', parts);
    }

    /// <summary>Reads back every acknowledged entry (ranges, then single reads) and lists what is lost or altered.</summary>
    private static async Task<List<string>> FindLostOrAlteredAsync(Protocol.Bookie.Bookie.BookieClient client,
        ConcurrentDictionary<(long Ledger, long Entry), byte[]> acknowledged)
    {
        var problems = new List<string>();
        foreach (var ledger in acknowledged.Keys.GroupBy(k => k.Ledger))
        {
            long first = ledger.Min(k => k.Entry);
            long last = ledger.Max(k => k.Entry);
            var read = new Dictionary<long, ReadEntryResponse>();
            using (var call = client.ReadRange(new ReadRangeRequest { LedgerId = ledger.Key, FirstEntryId = first, LastEntryId = last }))
            {
                await foreach (var response in call.ResponseStream.ReadAllAsync())
                {
                    if (response.Status == StatusCode.Ok)
                    {
                        read[response.EntryId] = response;
                    }
                }
            }

            var lac = await client.ReadLacAsync(new ReadLacRequest { LedgerId = ledger.Key });
            if (lac.LastEntryId < last)
            {
                problems.Add($"ledger {ledger.Key}: last entry id {lac.LastEntryId} after restart, {last} was acknowledged");
            }

            foreach (var key in ledger)
            {
                if (!read.TryGetValue(key.Entry, out var response))
                {
                    response = await client.ReadEntryAsync(new ReadEntryRequest { LedgerId = key.Ledger, EntryId = key.Entry });
                }

                byte[] expected = acknowledged[key];
                if (response.Status != StatusCode.Ok)
                {
                    problems.Add($"{key.Ledger}:{key.Entry} {response.Status} {response.Message}");
                }
                else if (!response.Payload.Span.SequenceEqual(expected))
                {
                    problems.Add($"{key.Ledger}:{key.Entry} payload differs");
                }
                else if (!EntryDigest.Verify(key.Ledger, key.Entry, response.Lac, response.Payload.Span, response.Digest))
                {
                    problems.Add($"{key.Ledger}:{key.Entry} digest does not verify");
                }
            }
        }

        return problems;
    }
}
