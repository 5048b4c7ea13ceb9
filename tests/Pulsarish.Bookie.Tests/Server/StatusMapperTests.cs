using Pulsarish.Bookie.Server;
using Pulsarish.Protocol.Errors;
using Pulsarish.Protocol.Bookie;

namespace Pulsarish.Bookie.Tests.Server;

[TestFixture]
public sealed class StatusMapperTests
{
    private static IEnumerable<TestCaseData> Cases()
    {
        yield return new TestCaseData(new LedgerFencedException(1), StatusCode.Fenced);
        yield return new TestCaseData(new UnauthorizedException("k"), StatusCode.Unauthorized);
        yield return new TestCaseData(new NoSuchEntryException(1, 2), StatusCode.NoSuchEntry);
        yield return new TestCaseData(new NoSuchLedgerException(1), StatusCode.NoSuchLedger);
        yield return new TestCaseData(new BadRequestException("b"), StatusCode.BadRequest);
        yield return new TestCaseData(new TooLargeException("t"), StatusCode.TooLarge);
        yield return new TestCaseData(new CorruptDataException("c"), StatusCode.Corrupt);
        yield return new TestCaseData(new BookieReadOnlyException("r"), StatusCode.ReadOnly);
        yield return new TestCaseData(new ObjectDisposedException("storage"), StatusCode.ShuttingDown);
        yield return new TestCaseData(new IOException("disk"), StatusCode.Error);
        yield return new TestCaseData(new InvalidOperationException("bug"), StatusCode.Error);
    }

    [TestCaseSource(nameof(Cases))]
    public void TypedErrorsMapToTheirWireStatus(Exception exception, StatusCode expected)
    {
        Assert.That(StatusMapper.ToStatus(exception), Is.EqualTo(expected));
        Assert.That(StatusMapper.IsExpected(exception), Is.EqualTo(expected != StatusCode.Error));
    }
}
