using System.Buffers.Binary;
using System.Diagnostics;
using Pulsarish.Protocol.Errors;
using Pulsarish.Metadata.ZooKeeper;
using Pulsarish.TestKit;

namespace Pulsarish.Metadata.Tests.ZooKeeper;

/// <summary>
/// The client against a scripted fake server: every reply that violates the protocol ends the connection and
/// fails the waiting operation promptly, without hanging and without allocating what a hostile length asks for;
/// server-reported expiry, the disconnected-wait bound and the pipelining bound.
/// </summary>
[TestFixture]
[CancelAfter(30_000)]
public sealed class ZooKeeperFakeServerTests
{
    private const int MaxPacketBytes = 1024 * 1024;
    private static readonly TimeSpan Prompt = TimeSpan.FromSeconds(5);

    public enum Violation { LengthAboveMax, NegativeLength, TruncatedBody, GarbageBody, WrongXid, ReplyWithNothingPending }

    [TestCase(Violation.LengthAboveMax)]
    [TestCase(Violation.NegativeLength)]
    [TestCase(Violation.TruncatedBody)]
    [TestCase(Violation.GarbageBody)]
    [TestCase(Violation.WrongXid)]
    [TestCase(Violation.ReplyWithNothingPending)]
    public async Task ProtocolViolationFailsPendingOperationPromptly(Violation violation)
    {
        await using var server = new FakeZooKeeperServer(async (conn, index, ct) =>
        {
            await conn.HandshakeAsync(10_000, 0x1234, ct);
            if (index > 0)
            {
                // Later connections: answer the handshake, then nothing (the test is over by then).
                await Task.Delay(Timeout.Infinite, ct);
                return;
            }
            var (xid, _) = await conn.ReadRequestAsync(ct);
            byte[] bytes = violation switch
            {
                // A length far above MaxPacketBytes, with nothing behind it.
                Violation.LengthAboveMax => FakeConnection.Frame(512 * 1024 * 1024, new byte[16]),
                Violation.NegativeLength => FakeConnection.Frame(-16, new byte[16]),
                // getData reply whose data buffer claims more bytes than the frame holds.
                Violation.TruncatedBody => FakeConnection.Reply(xid, 5, 0, BigEndian(100_000_000)),
                // A string vector with a count no frame could hold, then noise.
                Violation.GarbageBody => FakeConnection.Reply(xid, 5, 0, [0x7f, 0xff, 0xff, 0xff, 1, 2, 3]),
                Violation.WrongXid => FakeConnection.Reply(xid + 7, 5, 0, new byte[4 + 68]),
                Violation.ReplyWithNothingPending => FakeConnection.Reply(xid, 5, 0, new byte[4 + 68]),
                _ => throw new ArgumentOutOfRangeException(nameof(violation)),
            };
            if (violation == Violation.ReplyWithNothingPending)
            {
                // Answer the request correctly, then send a second reply nobody asked for.
                await conn.WriteAsync(FakeConnection.Reply(xid, 5, 0, GetDataBody()), ct);
                var (xid2, _) = await conn.ReadRequestAsync(ct);
                await conn.WriteAsync(FakeConnection.Reply(xid2 + 1000, 6, 0, GetDataBody()), ct);
            }
            else
            {
                await conn.WriteAsync(bytes, ct);
            }
            await Task.Delay(Timeout.Infinite, ct);
        });

        await using var client = await ZooKeeperClient.ConnectAsync(new ZooKeeperClientOptions
        {
            ConnectString = server.ConnectString,
            MaxPacketBytes = MaxPacketBytes,
            ConnectTimeout = TimeSpan.FromSeconds(1),
            CloseTimeout = TimeSpan.FromMilliseconds(200),
        }, new ProgressLogger("zk"));
        var disconnected = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        client.StateChanged += s =>
        {
            if (s == ZooKeeperState.Disconnected) disconnected.TrySetResult();
        };

        long allocatedBefore = GC.GetTotalAllocatedBytes(precise: true);
        var sw = Stopwatch.StartNew();
        Task pending;
        if (violation == Violation.ReplyWithNothingPending)
        {
            await client.GetDataAsync("/ok").WaitAsync(Prompt);
            pending = client.GetDataAsync("/victim");
        }
        else
        {
            pending = client.GetDataAsync("/victim");
        }
        var error = Assert.CatchAsync(() => pending.WaitAsync(Prompt));
        Assert.That(error, Is.InstanceOf<ProtocolException>().Or.InstanceOf<ConnectionLossException>(), error!.ToString());
        if (error is ConnectionLossException) Assert.That(error.InnerException, Is.InstanceOf<ProtocolException>(), error.ToString());
        Assert.That(sw.Elapsed, Is.LessThan(Prompt));
        await disconnected.Task.WaitAsync(Prompt);
        long allocated = GC.GetTotalAllocatedBytes(precise: true) - allocatedBefore;
        Assert.That(allocated, Is.LessThan(32L * 1024 * 1024), "a hostile length must not be allocated");
    }

    [Test]
    public async Task ServerReportingSessionExpiredOnReconnectKillsTheClient()
    {
        var presented = new List<long>();
        await using var server = new FakeZooKeeperServer(async (conn, index, ct) =>
        {
            long sessionId = await conn.HandshakeAsync(index == 0 ? 4_000 : 0, index == 0 ? 0x4242 : 0, ct);
            lock (presented) presented.Add(sessionId);
            if (index == 0)
            {
                // Answer one request, then drop the connection.
                var (xid, _) = await conn.ReadRequestAsync(ct);
                await conn.WriteAsync(FakeConnection.Reply(xid, 9, 0, GetDataBody()), ct);
                conn.Stream.Close();
                return;
            }
            conn.Stream.Close();
        });

        await using var client = await ZooKeeperClient.ConnectAsync(new ZooKeeperClientOptions
        {
            ConnectString = server.ConnectString,
            ConnectTimeout = TimeSpan.FromSeconds(1),
            CloseTimeout = TimeSpan.FromMilliseconds(200),
        }, new ProgressLogger("zk"));
        var states = new List<ZooKeeperState>();
        var expired = new TaskCompletionSource(TaskCreationOptions.RunContinuationsAsynchronously);
        client.StateChanged += s =>
        {
            lock (states) states.Add(s);
            if (s == ZooKeeperState.Expired) expired.TrySetResult();
        };
        Assert.That(client.SessionId, Is.EqualTo(0x4242));
        await client.GetDataAsync("/a").WaitAsync(Prompt);
        await expired.Task.WaitAsync(Prompt);

        Assert.That(client.State, Is.EqualTo(ZooKeeperState.Expired));
        lock (presented) Assert.That(presented, Is.EqualTo(new long[] { 0, 0x4242 }), "the reconnect presents the session id");
        // The first Connected may be dispatched after ConnectAsync returned, so after this handler was attached.
        lock (states)
            Assert.That(states.SkipWhile(s => s == ZooKeeperState.Connected),
                Is.EqualTo(new[] { ZooKeeperState.Disconnected, ZooKeeperState.Expired }));
        Assert.ThrowsAsync<SessionExpiredException>(() => client.GetDataAsync("/a").WaitAsync(Prompt));
        Assert.ThrowsAsync<SessionExpiredException>(() => client.CreateAsync("/b", [], CreateMode.Ephemeral).WaitAsync(Prompt));
    }

    [Test]
    public async Task OperationQueuedWhileDisconnectedFailsWithConnectionLossAfterTheBound()
    {
        await using var server = new FakeZooKeeperServer(async (conn, index, ct) =>
        {
            if (index > 0)
            {
                // Never answer the handshake again: the client stays disconnected.
                await Task.Delay(Timeout.Infinite, ct);
                return;
            }
            await conn.HandshakeAsync(30_000, 0x77, ct);
            conn.Stream.Close();
        });
        await using var client = await ZooKeeperClient.ConnectAsync(new ZooKeeperClientOptions
        {
            ConnectString = server.ConnectString,
            SessionTimeout = TimeSpan.FromSeconds(30),
            ConnectTimeout = TimeSpan.FromMilliseconds(500),
            DisconnectedOperationTimeout = TimeSpan.FromMilliseconds(700),
        }, new ProgressLogger("zk"));
        await Eventually.That(() => client.State == ZooKeeperState.Disconnected, Prompt, "the client notices the lost connection");
        var sw = Stopwatch.StartNew();
        Assert.ThrowsAsync<ConnectionLossException>(() => client.GetDataAsync("/x").WaitAsync(Prompt));
        Assert.That(sw.Elapsed, Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(650)).And.LessThan(Prompt));
        Assert.That(client.State, Is.EqualTo(ZooKeeperState.Disconnected), "still trying: the session may be alive");
    }

    [Test]
    public async Task WriterStopsAtTheInFlightBoundUntilRepliesArrive()
    {
        var received = new List<int>();
        var release = new SemaphoreSlim(0);
        await using var server = new FakeZooKeeperServer(async (conn, index, ct) =>
        {
            await conn.HandshakeAsync(10_000, 0x99, ct);
            var reading = Task.Run(async () =>
            {
                while (true)
                {
                    var (xid, _) = await conn.ReadRequestAsync(ct);
                    lock (received) received.Add(xid);
                }
            }, ct);
            var answered = 0;
            while (true)
            {
                await release.WaitAsync(ct);
                int xid;
                while (true)
                {
                    lock (received)
                        if (received.Count > answered) break;
                    await Task.Delay(5, ct);
                }
                lock (received) xid = received[answered];
                answered++;
                await conn.WriteAsync(FakeConnection.Reply(xid, answered, 0, GetDataBody()), ct);
            }
        });
        await using var client = await ZooKeeperClient.ConnectAsync(new ZooKeeperClientOptions
        {
            ConnectString = server.ConnectString,
            MaxInFlightRequests = 3,
            ConnectTimeout = TimeSpan.FromSeconds(1),
            CloseTimeout = TimeSpan.FromMilliseconds(200),
        }, new ProgressLogger("zk"));
        var ops = Enumerable.Range(0, 6).Select(i => client.GetDataAsync("/n" + i)).ToList();
        await Task.Delay(300);
        lock (received) Assert.That(received, Has.Count.EqualTo(3), "only MaxInFlightRequests may be written");
        release.Release();
        await ops[0].WaitAsync(Prompt);
        await Eventually.That(() => { lock (received) return received.Count >= 4; }, Prompt, "one reply frees one slot");
        lock (received) Assert.That(received, Has.Count.EqualTo(4), "one reply frees one slot");
        release.Release(5);
        await Task.WhenAll(ops).WaitAsync(Prompt);
        lock (received) Assert.That(received, Is.Ordered.Ascending);
    }

    private static byte[] BigEndian(int value)
    {
        var bytes = new byte[4];
        BinaryPrimitives.WriteInt32BigEndian(bytes, value);
        return bytes;
    }

    /// <summary>A well-formed getData reply body: one data byte and a zero stat.</summary>
    private static byte[] GetDataBody()
    {
        var body = new byte[4 + 1 + 68];
        BinaryPrimitives.WriteInt32BigEndian(body, 1);
        body[4] = 42;
        return body;
    }
}
