using Pulsarish.Broker.Admin;
using Pulsarish.Broker.Errors;

namespace Pulsarish.Broker.Tests;

/// <summary>Namespace policies resolved against broker defaults (no cluster).</summary>
[TestFixture]
public sealed class PoliciesTests
{
    [Test]
    public void UnsetPoliciesTakeTheBrokerDefaults()
    {
        var defaults = new BrokerOptions();
        var resolved = EffectivePolicies.Resolve(new Policies(), defaults);
        Assert.That((resolved.EnsembleSize, resolved.WriteQuorum, resolved.AckQuorum), Is.EqualTo((2, 2, 2)));
        Assert.That((resolved.RetentionTime, resolved.RetentionSizeBytes), Is.EqualTo((TimeSpan.Zero, 0L)));
        Assert.That(resolved.MaxMessageSizeBytes, Is.EqualTo(5 * 1024 * 1024));
        Assert.That(resolved.MessageTtl, Is.EqualTo(TimeSpan.Zero));
    }

    [Test]
    public void RetentionSetOnlyByTimeOrOnlyBySizeLeavesTheOtherInfinite()
    {
        var defaults = new BrokerOptions();
        var byTime = EffectivePolicies.Resolve(new Policies { RetentionTimeMinutes = 60 }, defaults);
        Assert.That((byTime.RetentionTime, byTime.RetentionSizeBytes), Is.EqualTo((TimeSpan.FromMinutes(60), -1L)));
        var bySize = EffectivePolicies.Resolve(new Policies { RetentionSizeBytes = 1000 }, defaults);
        Assert.That(bySize.RetentionTime, Is.LessThan(TimeSpan.Zero));
        Assert.That(bySize.RetentionSizeBytes, Is.EqualTo(1000));
    }

    [Test]
    public void InvalidPoliciesAreRejected()
    {
        Assert.Throws<BrokerException>(() => new Policies { EnsembleSize = 2, WriteQuorum = 3 }.Validate());
        Assert.Throws<BrokerException>(() => new Policies { WriteQuorum = 2, AckQuorum = 3 }.Validate());
        Assert.Throws<BrokerException>(() => new Policies { MessageTtlSeconds = -1 }.Validate());
        Assert.Throws<BrokerException>(() => new Policies { RetentionTimeMinutes = 0, RetentionSizeBytes = 10 }.Validate());
        Assert.DoesNotThrow(() => new Policies { RetentionTimeMinutes = -1, RetentionSizeBytes = 10 }.Validate());
        Assert.Throws<ArgumentException>(() => new BrokerOptions { ManagedLedgerDefaultAckQuorum = 3 }.Validate());
    }
}
