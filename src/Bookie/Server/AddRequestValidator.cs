using Pulsarish.Protocol.Checksums;
using Pulsarish.Protocol.Bookie;

namespace Pulsarish.Bookie.Server;

/// <summary>
/// Checks an <see cref="AddRequest"/> from the wire before anything reaches storage: ids, sizes, the master key
/// length and the writer's digest (DESIGN.md §5: bookies verify the digest on add).
/// </summary>
public static class AddRequestValidator
{
    /// <summary>Returns OK, or the status and a message for the client.</summary>
    public static StatusCode Validate(AddRequest request, BookieOptions options, out string? message)
        => Validate(request.LedgerId, request.EntryId, request.Lac, request.Digest, request.Payload.Span,
            request.MasterKey.Length, options, out message);

    /// <summary>The same checks on the fields of an add (an in-process add has no wire message).</summary>
    public static StatusCode Validate(long ledgerId, long entryId, long lac, uint digest, ReadOnlySpan<byte> payload,
        int masterKeyLength, BookieOptions options, out string? message)
    {
        if (ledgerId < 0 || entryId < 0)
        {
            message = "ledger and entry ids must not be negative";
            return StatusCode.BadRequest;
        }

        if (lac < -1)
        {
            message = "lac must be >= -1";
            return StatusCode.BadRequest;
        }

        if (payload.Length == 0)
        {
            message = "empty payload";
            return StatusCode.BadRequest;
        }

        if (payload.Length > options.MaxEntryBytes)
        {
            message = "payload exceeds the bookie's max entry size";
            return StatusCode.TooLarge;
        }

        if (masterKeyLength > options.MaxMasterKeyBytes)
        {
            message = "master key too long";
            return StatusCode.BadRequest;
        }

        if (!EntryDigest.Verify(ledgerId, entryId, lac, payload, digest))
        {
            message = "digest mismatch";
            return StatusCode.BadRequest;
        }

        message = null;
        return StatusCode.Ok;
    }
}
