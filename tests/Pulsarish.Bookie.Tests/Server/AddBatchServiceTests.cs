using Grpc.Core;
using Grpc.Net.Client;
using Pulsarish.Protocol.Checksums;
using Pulsarish.Protocol.Bookie;
using Pulsarish.TestKit;
using StatusCode = Pulsarish.Protocol.Bookie.StatusCode;

namespace Pulsarish.Bookie.Tests.Server;

/// <summary>
/// The AddBatch RPC over a real in-process bookie with its real storage (journal with fsync, entry logs, index):
/// per-entry answers inside a batch, pipelining across batches, answers sharing response messages, durability of
/// the good entries of a mixed batch across a restart, and malformed messages.
/// </summary>
[TestFixture]
public sealed class AddBatchServiceTests
{
    private static readonly byte[] Key = "master-key"u8.ToArray();
    private static readonly byte[] OtherKey = "other-key"u8.ToArray();
    private const int MaxEntryBytes = 64 * 1024;
    private const int WindowAdds = 64;

    private TempDir _dir = null!;
    private BookieHost _server = null!;
    private GrpcChannel _channel = null!;
    private Protocol.Bookie.Bookie.BookieClient _client = null!;

    [SetUp]
    public async Task SetUp()
    {
        _dir = new TempDir("bookie-batch");
        await StartAsync();
    }

    [TearDown]
    public async Task TearDown()
    {
        _channel.Dispose();
        await _server.DisposeAsync();
        _dir.Dispose();
    }

    private async Task StartAsync()
    {
        _server = await BookieHost.StartAsync(new BookieOptions
        {
            Port = 0,
            JournalDir = _dir.Sub("journal"),
            LedgersDir = _dir.Sub("ledgers"),
            IndexDir = _dir.Sub("index"),
            MaxEntryBytes = MaxEntryBytes,
            // Smaller than the batches below: the window must stop the reading mid-batch and resume it.
            MaxInFlightAddsPerStream = WindowAdds,
        });
        _channel = BookieRequests.Channel(_server.Address);
        _client = new Protocol.Bookie.Bookie.BookieClient(_channel);
    }

    [Test]
    public async Task BatchMixingGoodAndBadEntriesAnswersEachWithItsOwnStatusAndTheGoodOnesSurviveARestart()
    {
        byte[] payload = "good entry"u8.ToArray();
        var setup = await SendBatchesAsync([[BookieRequests.Add(1, 1, 0, payload, Key), BookieRequests.Add(2, 2, 0, payload, Key)]]);
        Assert.That(setup.Answers.Values, Is.All.EqualTo(StatusCode.Ok));
        var fence = await _client.FenceAsync(new FenceRequest { LedgerId = 2, MasterKey = Google.Protobuf.ByteString.CopyFrom(Key) });
        Assert.That(fence.Status, Is.EqualTo(StatusCode.Ok));

        var badDigest = BookieRequests.Add(11, 1, 2, payload, Key, lac: 0);
        badDigest.Digest ^= 0x1;
        AddRequest[] mixed =
        [
            BookieRequests.Add(10, 1, 1, payload, Key, lac: 0),
            badDigest,
            BookieRequests.Add(12, 1, 3, new byte[MaxEntryBytes + 1], Key, lac: 0),
            BookieRequests.Add(13, 1, 4, payload, OtherKey, lac: 0),
            BookieRequests.Add(14, 2, 1, payload, Key, lac: 0),
            BookieRequests.Add(15, 1, 5, payload, Key, lac: 1),
            BookieRequests.Add(16, 2, 1, payload, Key, lac: 0, recovery: true),
        ];
        var result = await SendBatchesAsync([mixed]);

        Assert.That(result.Answers[10], Is.EqualTo(StatusCode.Ok));
        Assert.That(result.Answers[11], Is.EqualTo(StatusCode.BadRequest), "bad digest");
        Assert.That(result.Answers[12], Is.EqualTo(StatusCode.TooLarge));
        Assert.That(result.Answers[13], Is.EqualTo(StatusCode.Unauthorized), "wrong master key");
        Assert.That(result.Answers[14], Is.EqualTo(StatusCode.Fenced));
        Assert.That(result.Answers[15], Is.EqualTo(StatusCode.Ok));
        Assert.That(result.Answers[16], Is.EqualTo(StatusCode.Ok), "recovery add on a fenced ledger");
        Assert.That(result.Answers, Has.Count.EqualTo(mixed.Length));

        _channel.Dispose();
        await _server.DisposeAsync();
        await StartAsync();

        foreach (var (ledgerId, entryId, lac) in new[] { (1L, 1L, 0L), (1L, 5L, 1L), (2L, 1L, 0L) })
        {
            var read = await _client.ReadEntryAsync(new ReadEntryRequest { LedgerId = ledgerId, EntryId = entryId });
            Assert.That(read.Status, Is.EqualTo(StatusCode.Ok), $"{ledgerId}:{entryId}");
            Assert.That(read.Payload.ToByteArray(), Is.EqualTo(payload));
            Assert.That(read.Digest, Is.EqualTo(EntryDigest.Compute(ledgerId, entryId, lac, payload)));
        }

        foreach (long refused in new long[] { 2, 3, 4 })
        {
            var read = await _client.ReadEntryAsync(new ReadEntryRequest { LedgerId = 1, EntryId = refused });
            Assert.That(read.Status, Is.EqualTo(StatusCode.NoSuchEntry), $"1:{refused} was refused, must not be stored");
        }
    }

    [Test]
    public async Task PipelinedBatchesAnswerEveryRequestIdExactlyOnceAndShareResponseMessages()
    {
        const int ledgers = 8;
        const int batches = 40;
        const int addsPerBatch = 100;
        var sent = new List<AddRequest[]>();
        ulong requestId = 0;
        var nextEntry = new long[ledgers];
        for (int b = 0; b < batches; b++)
        {
            var batch = new AddRequest[addsPerBatch];
            for (int i = 0; i < addsPerBatch; i++)
            {
                int ledger = (int)(requestId % ledgers);
                long entryId = nextEntry[ledger]++;
                batch[i] = BookieRequests.Add(requestId++, 100 + ledger, entryId, BitConverter.GetBytes(requestId), Key,
                    lac: entryId - 1);
            }

            sent.Add(batch);
        }

        var result = await SendBatchesAsync(sent);

        Assert.That(result.Duplicates, Is.Zero, "a request id was answered twice");
        Assert.That(result.Answers, Has.Count.EqualTo(batches * addsPerBatch));
        Assert.That(result.Answers.Values, Is.All.EqualTo(StatusCode.Ok));
        Assert.That(result.MaxAnswersPerMessage, Is.GreaterThan(1),
            $"{result.Messages} response messages for {result.Answers.Count} answers: completions never shared a message");
        Assert.That(result.Messages, Is.LessThan(result.Answers.Count));
        Assert.That(_server.Metrics.AddRequestMessages.Value, Is.EqualTo(batches));
        for (int l = 0; l < ledgers; l++)
        {
            var lac = await _client.ReadLacAsync(new ReadLacRequest { LedgerId = 100 + l });
            Assert.That(lac.LastEntryId, Is.EqualTo(nextEntry[l] - 1));
        }
    }

    [Test]
    public async Task StopEndsAnOpenAddBatchStreamWithUnavailableAfterAnsweringWhatItRead()
    {
        using var call = _client.AddBatch(deadline: DateTime.UtcNow.AddSeconds(30));
        var first = new AddBatchRequest();
        first.Adds.Add(BookieRequests.Add(1, 40, 0, [1], Key));
        first.Adds.Add(BookieRequests.Add(2, 40, 1, [2], Key, lac: 0));
        await call.RequestStream.WriteAsync(first);
        var answered = new HashSet<ulong>();
        while (answered.Count < 2 && await call.ResponseStream.MoveNext(CancellationToken.None))
        {
            foreach (var response in call.ResponseStream.Current.Responses)
            {
                Assert.That(response.Status, Is.EqualTo(StatusCode.Ok));
                answered.Add(response.RequestId);
            }
        }

        Assert.That(answered, Is.EquivalentTo(new ulong[] { 1, 2 }));
        // A writer reads answers concurrently, as the ledger client does.
        var next = call.ResponseStream.MoveNext(CancellationToken.None);
        var clock = System.Diagnostics.Stopwatch.StartNew();
        await _server.StopAsync();

        Assert.That(clock.Elapsed, Is.LessThan(TimeSpan.FromSeconds(5)), "an idle open stream must not hold the stop");
        var ended = Assert.ThrowsAsync<RpcException>(async () => await next);
        Assert.That(ended!.StatusCode, Is.EqualTo(Grpc.Core.StatusCode.Unavailable), ended.Status.ToString());
    }

    [Test]
    public async Task GarbageBytesOnTheAddBatchStreamFailTheCallButNotTheServer()
    {
        byte[] garbage = [0x0A, 0xFF, 0xFF, 0xFF, 0xFF, 0x0F, 0x12, 0x34, 0xFA, 0xCE];
        var raw = Marshallers.Create<byte[]>(b => b, b => b);
        var method = new Method<byte[], byte[]>(MethodType.DuplexStreaming, "pulsarish.bookie.Bookie", "AddBatch", raw, raw);
        Grpc.Core.StatusCode status;
        using (var call = _channel.CreateCallInvoker().AsyncDuplexStreamingCall(method, null,
                   new CallOptions(deadline: DateTime.UtcNow.AddSeconds(10))))
        {
            try
            {
                await call.RequestStream.WriteAsync(garbage);
                await call.RequestStream.CompleteAsync();
                while (await call.ResponseStream.MoveNext(CancellationToken.None))
                {
                }

                status = call.GetStatus().StatusCode;
            }
            catch (RpcException ex)
            {
                status = ex.StatusCode;
            }
        }

        Assert.That(status, Is.Not.EqualTo(Grpc.Core.StatusCode.OK));
        var after = await SendBatchesAsync([[BookieRequests.Add(1, 30, 0, [1], Key)]]);
        Assert.That(after.Answers[1], Is.EqualTo(StatusCode.Ok));
    }

    private sealed record BatchResult(Dictionary<ulong, StatusCode> Answers, int Messages, int MaxAnswersPerMessage,
        int Duplicates);

    /// <summary>Writes every batch without waiting for answers, then reads until the bookie ends the stream.</summary>
    private async Task<BatchResult> SendBatchesAsync(IReadOnlyList<AddRequest[]> batches)
    {
        using var call = _client.AddBatch(deadline: DateTime.UtcNow.AddSeconds(30));
        var reading = Task.Run(async () =>
        {
            var answers = new Dictionary<ulong, StatusCode>();
            int messages = 0, maxPerMessage = 0, duplicates = 0;
            await foreach (var message in call.ResponseStream.ReadAllAsync())
            {
                messages++;
                maxPerMessage = Math.Max(maxPerMessage, message.Responses.Count);
                foreach (var response in message.Responses)
                {
                    if (!answers.TryAdd(response.RequestId, response.Status))
                    {
                        duplicates++;
                    }
                }
            }

            return new BatchResult(answers, messages, maxPerMessage, duplicates);
        });
        foreach (var batch in batches)
        {
            var message = new AddBatchRequest();
            message.Adds.AddRange(batch);
            await call.RequestStream.WriteAsync(message);
        }

        await call.RequestStream.CompleteAsync();
        return await reading;
    }
}
