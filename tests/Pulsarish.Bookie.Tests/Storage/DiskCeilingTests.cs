using Pulsarish.Bookie.Storage;

namespace Pulsarish.Bookie.Tests.Storage;

public class DiskCeilingTests : StorageTestBase
{
    [TestCase(true)]
    [TestCase(false)]
    public void CeilingMeasuresSyncedWritesAndLeavesNoFileBehind(bool preallocate)
    {
        DiskCeilingResult result = DiskCeiling.Measure(Root, 64 * 1024, 20, preallocate);
        TestContext.Out.WriteLine(result);
        Assert.That(result.BytesPerSecond, Is.GreaterThan(0));
        Assert.That(result.SyncsPerSecond, Is.GreaterThan(0));
        Assert.That(result.BytesPerSecond, Is.EqualTo(result.SyncsPerSecond * 64 * 1024).Within(0.1).Percent);
        Assert.That(result.MedianSyncLatency, Is.GreaterThan(TimeSpan.Zero));
        Assert.That(Directory.GetFiles(Root), Is.Empty);
    }
}
