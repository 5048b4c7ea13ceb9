namespace Pulsarish.Bookie.Tests.Server;

[TestFixture]
public sealed class BookieOptionsValidatorTests
{
    private static BookieOptions Valid() => new() { JournalDir = "j", LedgersDir = "l", IndexDir = "i" };

    [Test]
    public void DefaultsWithDirectoriesAreValid()
    {
        Assert.That(new BookieOptionsValidator().Validate(null, Valid()).Succeeded, Is.True);
    }

    [Test]
    public void MissingDirectoriesBadPortAndBadLimitsAreReported()
    {
        var options = new BookieOptions
        {
            Port = 70000, BindAddress = "not-an-ip", MaxEntryBytes = 0, MaxInFlightAddsPerStream = 0,
            MaxAddResponsesPerMessage = 0, DiskUsageThreshold = 1.5,
        };

        var result = new BookieOptionsValidator().Validate(null, options);

        Assert.That(result.Failed, Is.True);
        Assert.That(result.Failures, Has.Some.Contains("JournalDir"));
        Assert.That(result.Failures, Has.Some.Contains("Port"));
        Assert.That(result.Failures, Has.Some.Contains("BindAddress"));
        Assert.That(result.Failures, Has.Some.Contains("MaxEntryBytes"));
        Assert.That(result.Failures, Has.Some.Contains("MaxInFlightAddsPerStream"));
        Assert.That(result.Failures, Has.Some.Contains("MaxAddResponsesPerMessage"));
        Assert.That(result.Failures, Has.Some.Contains("DiskUsageThreshold"));
    }

    [TestCase(0.0)]
    [TestCase(0.97)]
    public void LowWaterMarkOutsideZeroToHighWaterMarkIsReported(double lowWaterMark)
    {
        var options = Valid();
        options.DiskUsageThreshold = 0.95;
        options.DiskUsageLwmThreshold = lowWaterMark;

        var result = new BookieOptionsValidator().Validate(null, options);

        Assert.That(result.Failed, Is.True);
        Assert.That(result.Failures, Has.Some.Contains("DiskUsageLwmThreshold"));
    }

    [Test]
    public void StartRefusesInvalidOptionsBeforeOpeningStorage()
    {
        bool opened = false;
        var setup = new BookieHostSetup
        {
            StorageFactory = (_, _, _) =>
            {
                opened = true;
                return ValueTask.FromResult<Bookie.Storage.ILedgerStorage>(new InMemoryLedgerStorage());
            },
        };

        Assert.ThrowsAsync<Microsoft.Extensions.Options.OptionsValidationException>(
            () => BookieHost.StartAsync(new BookieOptions { Port = -1 }, setup));
        Assert.That(opened, Is.False);
    }
}
