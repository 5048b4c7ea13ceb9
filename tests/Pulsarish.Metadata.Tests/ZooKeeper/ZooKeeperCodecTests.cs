using System.Buffers;
using System.Buffers.Binary;
using Pulsarish.Protocol.Errors;
using Pulsarish.Metadata.ZooKeeper;

namespace Pulsarish.Metadata.Tests.ZooKeeper;

/// <summary>Fast unit tests of the jute codec, the framing and the connect-string and path rules.</summary>
[TestFixture]
public sealed class ZooKeeperCodecTests
{
    [Test]
    public void ConnectStringParsesServersAndChroot()
    {
        var cs = ConnectString.Parse("10.0.0.1:2181, zk2:2182,zk3/pulsar/cluster");
        Assert.That(cs.Servers, Is.EqualTo(new[] { ("10.0.0.1", 2181), ("zk2", 2182), ("zk3", 2181) }));
        Assert.That(cs.Chroot, Is.EqualTo("/pulsar/cluster"));
        Assert.That(cs.ToServer("/"), Is.EqualTo("/pulsar/cluster"));
        Assert.That(cs.ToServer("/a/b"), Is.EqualTo("/pulsar/cluster/a/b"));
        Assert.That(cs.ToClient("/pulsar/cluster"), Is.EqualTo("/"));
        Assert.That(cs.ToClient("/pulsar/cluster/a"), Is.EqualTo("/a"));
        Assert.That(cs.ToClient("/pulsar/clusterX"), Is.EqualTo("/pulsar/clusterX"), "a sibling with the same prefix is not inside");
        Assert.That(ConnectString.Parse("h:1/").Chroot, Is.Null);
        Assert.Throws<ArgumentException>(() => ConnectString.Parse("h:notaport"));
        Assert.Throws<ArgumentException>(() => ConnectString.Parse("h:1/bad/"));
        Assert.Throws<ArgumentException>(() => ConnectString.Parse(" , "));
    }

    [TestCase("/", false, true)]
    [TestCase("/a/b-c_d.e", false, true)]
    [TestCase("/a/", false, false)]
    [TestCase("/a/", true, true)]
    [TestCase("a", false, false)]
    [TestCase("", false, false)]
    [TestCase("/a//b", false, false)]
    [TestCase("/a/./b", false, false)]
    [TestCase("/a/..", false, false)]
    [TestCase("/a\u0001", false, false)]
    public void PathRulesFollowZooKeeper(string path, bool sequential, bool valid)
    {
        if (valid) Assert.DoesNotThrow(() => PathValidation.Validate(path, sequential));
        else Assert.Throws<ArgumentException>(() => PathValidation.Validate(path, sequential));
    }

    [Test]
    public void JuteRoundTripsEveryFieldBigEndian()
    {
        var w = new JuteWriter(8);
        w.WriteInt(-7);
        w.WriteLong(0x0102030405060708);
        w.WriteBool(true);
        w.WriteString("zné");
        w.WriteString(null);
        w.WriteBuffer(new byte[] { 9, 8, 7 });
        w.WriteInt(2);
        w.WriteString("a");
        w.WriteString("bc");
        var (buffer, length) = w.Finish();
        try
        {
            Assert.That(BinaryPrimitives.ReadInt32BigEndian(buffer), Is.EqualTo(length - 4), "frame length prefix");
            Assert.That(buffer[4..8], Is.EqualTo(new byte[] { 0xff, 0xff, 0xff, 0xf9 }));
            var r = new JuteReader(buffer.AsSpan(4, length - 4));
            Assert.That(r.ReadInt(), Is.EqualTo(-7));
            Assert.That(r.ReadLong(), Is.EqualTo(0x0102030405060708));
            Assert.That(r.ReadBool(), Is.True);
            Assert.That(r.ReadString(), Is.EqualTo("zné"));
            Assert.That(r.ReadString(), Is.Null);
            Assert.That(r.ReadBuffer(), Is.EqualTo(new byte[] { 9, 8, 7 }));
            Assert.That(r.ReadStringVector(), Is.EqualTo(new[] { "a", "bc" }));
            Assert.That(r.Remaining, Is.Zero);
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
        }
    }

    [Test]
    public void JuteReaderRejectsLengthsBeyondTheFrame()
    {
        byte[] hugeString = [0x7f, 0xff, 0xff, 0xff, (byte)'x'];
        byte[] negative = [0xff, 0xff, 0xff, 0xfe];
        byte[] hugeVector = [0x10, 0, 0, 0, 0, 0, 0, 1];
        byte[] shortStat = new byte[67];
        Assert.Throws<ProtocolException>(() => new JuteReader(hugeString).ReadString());
        Assert.Throws<ProtocolException>(() => new JuteReader(hugeString).ReadBuffer());
        Assert.Throws<ProtocolException>(() => new JuteReader(negative).ReadBuffer());
        Assert.Throws<ProtocolException>(() => new JuteReader(hugeVector).ReadStringVector());
        Assert.Throws<ProtocolException>(() => new JuteReader(shortStat).ReadStat());
        Assert.Throws<ProtocolException>(() => new JuteReader([1, 2, 3]).ReadInt());
    }

    [Test]
    public async Task FrameReaderSplitsFramesAcrossReadsAndRejectsBadLengths()
    {
        var stream = new MemoryStream();
        foreach (var payload in new[] { new byte[] { 1, 2, 3 }, new byte[100_000], Array.Empty<byte>() })
        {
            var prefix = new byte[4];
            BinaryPrimitives.WriteInt32BigEndian(prefix, payload.Length);
            stream.Write(prefix);
            stream.Write(payload);
        }
        stream.Position = 0;
        using (var frames = new FrameReader(new TrickleStream(stream, 7), maxFrameBytes: 200_000))
        {
            Assert.That((await frames.ReadFrameAsync(default)).ToArray(), Is.EqualTo(new byte[] { 1, 2, 3 }));
            Assert.That((await frames.ReadFrameAsync(default)).Length, Is.EqualTo(100_000));
            Assert.That((await frames.ReadFrameAsync(default)).Length, Is.Zero);
            Assert.ThrowsAsync<EndOfStreamException>(async () => await frames.ReadFrameAsync(default));
        }

        foreach (int bad in new[] { -1, 200_001, int.MaxValue })
        {
            var prefix = new byte[4];
            BinaryPrimitives.WriteInt32BigEndian(prefix, bad);
            using var frames = new FrameReader(new MemoryStream(prefix), maxFrameBytes: 200_000);
            Assert.ThrowsAsync<ProtocolException>(async () => await frames.ReadFrameAsync(default), $"length {bad}");
        }
    }

    /// <summary>Returns at most a few bytes per read, like a slow network.</summary>
    private sealed class TrickleStream(Stream inner, int maxBytesPerRead) : Stream
    {
        public override bool CanRead => true;
        public override bool CanSeek => false;
        public override bool CanWrite => false;
        public override long Length => throw new NotSupportedException();
        public override long Position { get => throw new NotSupportedException(); set => throw new NotSupportedException(); }
        public override void Flush() { }
        public override int Read(byte[] buffer, int offset, int count) => inner.Read(buffer, offset, Math.Min(count, maxBytesPerRead));
        public override ValueTask<int> ReadAsync(Memory<byte> buffer, CancellationToken ct = default) =>
            inner.ReadAsync(buffer[..Math.Min(buffer.Length, maxBytesPerRead)], ct);
        public override long Seek(long offset, SeekOrigin origin) => throw new NotSupportedException();
        public override void SetLength(long value) => throw new NotSupportedException();
        public override void Write(byte[] buffer, int offset, int count) => throw new NotSupportedException();
    }
}
