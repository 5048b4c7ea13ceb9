using System.Diagnostics;
using System.Security.Cryptography;
using System.Text;
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
}
