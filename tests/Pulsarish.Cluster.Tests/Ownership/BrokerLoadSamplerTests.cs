using Pulsarish.Broker.Ownership;

namespace Pulsarish.Cluster.Tests.Ownership;

[TestFixture]
public sealed class BrokerLoadSamplerTests
{
    private sealed class ManualClock : TimeProvider
    {
        public long Ticks;

        public override long TimestampFrequency => TimeSpan.TicksPerSecond;

        public override long GetTimestamp() => Ticks;
    }

    [Test]
    public void EachSampleReportsTheRatesSinceThePreviousOne()
    {
        var clock = new ManualClock();
        double messagesIn = 100, messagesOut = 40;
        int topics = 3;
        var sampler = new BrokerLoadSampler(() => topics, () => messagesIn, () => messagesOut, clock);

        clock.Ticks += TimeSpan.FromSeconds(2).Ticks;
        messagesIn += 1000;
        messagesOut += 500;
        Assert.That(sampler.Sample(), Is.EqualTo(new BrokerLoad(3, 500, 250)));

        clock.Ticks += TimeSpan.FromSeconds(4).Ticks;
        messagesIn += 100;
        topics = 5;
        Assert.That(sampler.Sample(), Is.EqualTo(new BrokerLoad(5, 25, 0)), "only what happened since the last sample");
    }

    [Test]
    public void ASampleWithNoTimeElapsedReportsZeroRates()
    {
        var clock = new ManualClock();
        double messagesIn = 0;
        var sampler = new BrokerLoadSampler(() => 1, () => messagesIn, () => 0, clock);
        messagesIn = 50;

        Assert.That(sampler.Sample(), Is.EqualTo(new BrokerLoad(1, 0, 0)));
    }
}
