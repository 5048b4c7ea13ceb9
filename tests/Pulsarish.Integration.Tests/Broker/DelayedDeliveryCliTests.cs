using System.Diagnostics;
using Pulsarish.TestKit;

namespace Pulsarish.Integration.Tests.Broker;

/// <summary>
/// Delayed delivery from the command line against <c>pulsarish standalone</c>: <c>produce --deliver-after</c> holds the
/// message from a Shared consumer until due, bad delivery times are refused as bad arguments, and
/// <c>admin namespaces set-delayed-delivery</c> switches the policy.
/// </summary>
[TestFixture]
[NonParallelizable]
public sealed class DelayedDeliveryCliTests
{
    [Test]
    public async Task ProduceDeliverAfterHoldsTheMessageFromASharedConsumerUntilDue()
    {
        await using var standalone = await StandaloneProcess.StartAsync(extraArgs: ["--metrics-port", "0"]);
        string topic = $"cli-delayed-{Guid.NewGuid():N}";

        // The consumer waits already: without the delay it would get the message as soon as it is stored.
        var consuming = PulsarishCli.RunAsync("consume", topic, "-s", "sub", "-t", "Shared", "-n", "1",
            "-p", "earliest", "--timeout-seconds", "60", "--service-url", standalone.Address);
        await Task.Delay(TimeSpan.FromSeconds(2));
        var sentAt = Stopwatch.StartNew();
        var produced = await PulsarishCli.RunAsync("produce", topic, "-m", "later", "--deliver-after", "8s", "--service-url", standalone.Address);
        Assert.That(produced.ExitCode, Is.EqualTo(0), produced.Output);
        var consumed = await consuming;
        Assert.That(consumed.ExitCode, Is.EqualTo(0), consumed.Output);
        Assert.That(consumed.Output, Does.Contain("later"));
        Assert.That(sentAt.Elapsed, Is.GreaterThanOrEqualTo(TimeSpan.FromSeconds(8)), "not delivered before its time");

        foreach (var bad in new[] { new[] { "--deliver-after", "soon" }, ["--deliver-at", "someday"],
                     ["--deliver-after", "1s", "--deliver-at", "1700000000000"] })
        {
            var refused = await PulsarishCli.RunAsync(["produce", topic, "-m", "x", .. bad, "--service-url", standalone.Address]);
            Assert.That(refused.ExitCode, Is.EqualTo(2), $"{string.Join(' ', bad)}: {refused.Output}");
            Assert.That(refused.Output, Does.Contain("BadArguments"));
        }

        var set = await PulsarishCli.RunAsync("admin", "namespaces", "set-delayed-delivery", "public/default", "--disable",
            "--service-url", standalone.Address);
        Assert.That(set.ExitCode, Is.EqualTo(0), set.Output);
        var get = await PulsarishCli.RunAsync("admin", "namespaces", "get-delayed-delivery", "public/default", "--service-url", standalone.Address);
        Assert.That(get.Output, Does.Contain("delayedDeliveryEnabled: False"), get.Output);
        var neither = await PulsarishCli.RunAsync("admin", "namespaces", "set-delayed-delivery", "public/default", "--service-url", standalone.Address);
        Assert.That(neither.ExitCode, Is.EqualTo(2), neither.Output);
    }
}
