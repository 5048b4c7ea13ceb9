using Pulsarish.Common.Checksums;
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
    {
        if (request.LedgerId < 0 || request.EntryId < 0)
        {
            message = "ledger and entry ids must not be negative";
            return StatusCode.BadRequest;
        }

        if (request.Lac < -1)
        {
            message = "lac must be >= -1";
            return StatusCode.BadRequest;
        }

        if (request.Payload.Length == 0)
        {
            message = "empty payload";
            return StatusCode.BadRequest;
        }

        if (request.Payload.Length > options.MaxEntryBytes)
        {
            message = "payload exceeds the bookie's max entry size";
            return StatusCode.TooLarge;
        }

        if (request.MasterKey.Length > options.MaxMasterKeyBytes)
        {
            message = "master key too long";
            return StatusCode.BadRequest;
        }

        if (!EntryDigest.Verify(request.LedgerId, request.EntryId, request.Lac, request.Payload.Span, request.Digest))
        {
            message = "digest mismatch";
            return StatusCode.BadRequest;
        }

        message = null;
        return StatusCode.Ok;
    }
}
