using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
using Pulsarish.Broker.Admin;
using Pulsarish.TestKit;

namespace Pulsarish.Client.Tests.Producers;

/// <summary><c>pulsarish produce</c> flags of this feature through the real binary: --rate, --properties, --key, --chunking, --access-mode.</summary>
[TestFixture]
[NonParallelizable]
public sealed class ProduceCommandTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(30);
    private InProcessCluster _cluster = null!;
    private PulsarishClient _client = null!;

    [OneTimeSetUp]
    public async Task StartAsync()
    {
        _cluster = await InProcessCluster.StartAsync();
        _client = _cluster.NewClient();
    }

    [OneTimeTearDown]
    public async Task StopAsync()
    {
        await _client.DisposeAsync();
        await _cluster.DisposeAsync();
    }

    [Test]
    [CancelAfter(120_000)]
    public async Task ProduceSendsKeyPropertiesAtTheRateAndChunksALargeFile()
    {
        string topic = $"persistent://public/default/cli-produce-{Guid.NewGuid():N}";
        await using var consumer = await _client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "sub", InitialPosition = SubscriptionInitialPosition.Earliest,
        });

        var clock = Stopwatch.StartNew();
        var (code, output) = await PulsarishCli.RunAsync("produce", topic, "-m", "hello", "-n", "6", "--rate", "10",
            "--key", "k1", "--properties", "team=core", "-p", "expr=a=b", "--access-mode", "Exclusive", "--service-url", _cluster.Address);
        TestContext.Progress.WriteLine($"produce at 10 msg/s took {clock.ElapsedMilliseconds} ms");
        Assert.That(code, Is.EqualTo(0), output);
        Assert.That(output, Does.Contain("6 messages successfully produced"));
        // 6 messages at 10/s: the last is due 0.5 s after the first (a lower bound only; a loaded machine is slower).
        Assert.That(clock.Elapsed, Is.GreaterThanOrEqualTo(TimeSpan.FromMilliseconds(500)), "--rate paces the sends");

        using var receive = new CancellationTokenSource(Patience);
        for (int i = 0; i < 6; i++)
        {
            var message = await consumer.ReceiveAsync(receive.Token);
            Assert.That(Encoding.UTF8.GetString(message.Payload.Span), Is.EqualTo("hello"));
            Assert.That(message.Key, Is.EqualTo("k1"));
            Assert.That(message.Properties, Is.EquivalentTo(new Dictionary<string, string> { ["team"] = "core", ["expr"] = "a=b" }));
        }

        using var dir = new TempDir("cli-chunking");
        string file = Path.Combine(dir.Path, "big.bin");
        var big = new byte[6 * 1024 * 1024];
        TestSeed.NewRandom().NextBytes(big);
        await File.WriteAllBytesAsync(file, big);
        var refused = await PulsarishCli.RunAsync("produce", topic, "-f", file, "--service-url", _cluster.Address);
        Assert.That(refused.ExitCode, Is.Not.EqualTo(0), "without --chunking a 6 MiB message exceeds the 5 MiB max");
        Assert.That(refused.Output, Does.Contain("TooLarge"));

        var chunked = await PulsarishCli.RunAsync("produce", topic, "-f", file, "--chunking", "--service-url", _cluster.Address);
        Assert.That(chunked.ExitCode, Is.EqualTo(0), chunked.Output);
        var whole = await consumer.ReceiveAsync(receive.Token);
        Assert.That(SHA256.HashData(whole.Payload.Span), Is.EqualTo(SHA256.HashData(big)), "the chunked file arrives whole");

        var bad = await PulsarishCli.RunAsync("produce", topic, "-m", "x", "-p", "novalue", "--service-url", _cluster.Address);
        Assert.That(bad.ExitCode, Is.Not.EqualTo(0));
        Assert.That(bad.Output, Does.Contain("key=value"));
    }

    [Test]
    [CancelAfter(120_000)]
    public async Task AChunkingProduceKilledMidMessageLeavesNoPartialMessageAndLaterMessagesFlow()
    {
        // 16 KiB max message size: a 64 MiB file is about 4 100 chunks, so the process is killed well inside it.
        string ns = $"small-{Guid.NewGuid():N}"[..14];
        await _cluster.Cluster.Broker.Service.Namespaces.CreateNamespaceAsync("public", ns,
            new Policies { MaxMessageSizeBytes = 16 * 1024, EnsembleSize = 2, WriteQuorum = 2, AckQuorum = 2 });
        string topic = $"persistent://public/{ns}/killed";
        await using var consumer = await _client.SubscribeAsync(new ConsumerOptions
        {
            Topic = topic, SubscriptionName = "sub", InitialPosition = SubscriptionInitialPosition.Earliest,
            ExpireTimeOfIncompleteChunkedMessage = TimeSpan.FromSeconds(2),
        });
        var loaded = await _cluster.Cluster.Broker.Service.GetOrLoadTopicAsync(topic);

        using var dir = new TempDir("cli-killed");
        string file = Path.Combine(dir.Path, "huge.bin");
        var huge = new byte[64 * 1024 * 1024];
        TestSeed.NewRandom().NextBytes(huge);
        await File.WriteAllBytesAsync(file, huge);
        using var process = new Process
        {
            StartInfo = PulsarishBinary.StartInfo(["produce", topic, "-f", file, "--chunking", "--service-url", _cluster.Address]),
        };
        process.StartInfo.RedirectStandardOutput = true;
        process.StartInfo.RedirectStandardError = true;
        process.Start();
        process.BeginOutputReadLine();
        process.BeginErrorReadLine();
        try
        {
            await Eventually.That(() => loaded.Ledger.NumberOfEntries >= 20 || process.HasExited, Patience,
                "the producer stored its first chunks", TimeSpan.FromMilliseconds(5));
            Assert.That(process.HasExited, Is.False, "produce finished before it could be killed mid-message");
            process.Kill(); // SIGKILL
            await process.WaitForExitAsync(new CancellationTokenSource(Patience).Token);
        }
        finally
        {
            if (!process.HasExited)
            {
                process.Kill(entireProcessTree: true);
            }
        }

        long stored = loaded.Ledger.NumberOfEntries;
        TestContext.Progress.WriteLine($"killed the producer after {stored} stored chunks");
        Assert.That(stored, Is.LessThan(huge.Length / (16 * 1024)), "killed mid-message");

        await using var producer = await _client.CreateProducerAsync(new ProducerOptions { Topic = topic });
        await producer.SendAsync(Encoding.UTF8.GetBytes("after"));
        using var receive = new CancellationTokenSource(Patience);
        var message = await consumer.ReceiveAsync(receive.Token);
        Assert.That(Encoding.UTF8.GetString(message.Payload.Span), Is.EqualTo("after"), "no partial message is delivered");
        await consumer.AcknowledgeAsync(message.MessageId);
        await Eventually.That(() => loaded.Subscriptions["sub"].Cursor.Backlog == 0, Patience,
            "the dead producer's chunks expired and were acknowledged");
    }
}
