using Pulsarish.Cli.Verify;

namespace Pulsarish.Cluster.Tests.Verify;

/// <summary>How <c>verify run</c> turns acknowledgement times into "time to recover" and "writes did not resume".</summary>
[TestFixture]
public sealed class ProduceSummaryTests
{
    private static ProduceSummary Acks(params long[] ackedMillis)
    {
        var summary = new ProduceSummary();
        foreach (long t in ackedMillis) summary.AckTimes.Add((t - 5, t));
        return summary;
    }

    [Test]
    public void RecoveryEndsWithTheLastStallAfterTheFault()
    {
        // Fault at 1000: a stall to 4000, a short burst, another stall to 7000, then steady.
        var summary = Acks(100, 500, 900, 4000, 4100, 4200, 7000, 7100, 7200, 7300);
        Assert.That(summary.RecoveryAfter(1000, healedMillis: 6000), Is.EqualTo(6000));
    }

    [Test]
    public void WithoutAStallRecoveryIsTheFirstAcknowledgementAfterTheFault()
    {
        var summary = Acks(100, 200, 300, 400, 500, 600);
        Assert.That(summary.RecoveryAfter(250, healedMillis: 400), Is.EqualTo(50));
    }

    [Test]
    public void NothingAcknowledgedAfterTheHealMeansWritesDidNotResume()
    {
        var summary = Acks(100, 200, 300);
        Assert.That(summary.RecoveryAfter(250, healedMillis: 5000), Is.Null);
        Assert.That(new ProduceSummary().RecoveryAfter(0, 0), Is.Null);
    }
}
