using Pulsarish.Protocol.Errors;
using Pulsarish.Protocol.Bookie;

namespace Pulsarish.Bookie.Server;

/// <summary>
/// The one place where the bookie turns an exception into a wire <see cref="StatusCode"/> (STYLE.md: errors mapped
/// in one place per server). Typed Pulsarish errors map to their status; anything else is an internal ERROR, and
/// <see cref="IsExpected"/> tells the caller whether it deserves an error log.
/// </summary>
public static class StatusMapper
{
    /// <summary>The wire status for <paramref name="exception"/>.</summary>
    public static StatusCode ToStatus(Exception exception) => exception switch
    {
        LedgerFencedException => StatusCode.Fenced,
        UnauthorizedException => StatusCode.Unauthorized,
        NoSuchEntryException => StatusCode.NoSuchEntry,
        NoSuchLedgerException => StatusCode.NoSuchLedger,
        BadRequestException => StatusCode.BadRequest,
        TooLargeException => StatusCode.TooLarge,
        CorruptDataException => StatusCode.Corrupt,
        BookieReadOnlyException => StatusCode.ReadOnly,
        OperationCanceledException or ObjectDisposedException => StatusCode.ShuttingDown,
        _ => StatusCode.Error,
    };

    /// <summary>
    /// True for outcomes that are part of the protocol (fenced, missing entry, bad input, shutdown) and so are
    /// answered without an error log; false for internal failures such as I/O errors.
    /// </summary>
    public static bool IsExpected(Exception exception) => ToStatus(exception) != StatusCode.Error;
}
