namespace Pulsarish.Protocol.Errors;

/// <summary>
/// Base of every typed Pulsarish error. <see cref="Reason"/> is the machine-readable reason that servers put
/// into gRPC status details (DESIGN.md §8), e.g. <c>Fenced</c>, <c>NotEnoughBookies</c>, <c>BadVersion</c>.
/// </summary>
public class PulsarishException : Exception
{
    public PulsarishException(string reason, string message, Exception? inner = null) : base(message, inner)
    {
        Reason = reason;
    }

    /// <summary>Machine-readable reason, stable across versions.</summary>
    public string Reason { get; }
}

/// <summary>The ledger was fenced (recovery began or it was closed): this writer can never add to it again.</summary>
public sealed class LedgerFencedException(long ledgerId, string? detail = null)
    : PulsarishException("Fenced", $"ledger {ledgerId} is fenced{(detail is null ? "" : ": " + detail)}")
{
    public long LedgerId { get; } = ledgerId;
}

/// <summary>Not enough bookies are available to form (or repair) an ensemble.</summary>
public sealed class NotEnoughBookiesException(string message) : PulsarishException("NotEnoughBookies", message);

/// <summary>A wrong master key was presented for a ledger.</summary>
public sealed class UnauthorizedException(string message) : PulsarishException("Unauthorized", message);

/// <summary>Stored or received data failed its checksum.</summary>
public sealed class CorruptDataException(string message) : PulsarishException("Corrupt", message);

/// <summary>The requested entry does not exist.</summary>
public sealed class NoSuchEntryException(long ledgerId, long entryId)
    : PulsarishException("NoSuchEntry", $"no entry {ledgerId}:{entryId}")
{
    public long LedgerId { get; } = ledgerId;
    public long EntryId { get; } = entryId;
}

/// <summary>The requested ledger does not exist.</summary>
public sealed class NoSuchLedgerException(long ledgerId)
    : PulsarishException("NoSuchLedger", $"no ledger {ledgerId}")
{
    public long LedgerId { get; } = ledgerId;
}

/// <summary>Malformed input that crossed a trust boundary (wire, files, metadata).</summary>
public sealed class BadRequestException(string message) : PulsarishException("BadRequest", message);

/// <summary>A payload beyond a configured maximum size.</summary>
public sealed class TooLargeException(string message) : PulsarishException("TooLarge", message);
