using Pulsarish.Protocol.Errors;

namespace Pulsarish.Metadata;

/// <summary>
/// The bookie's disks do not match the identity registered for its bookie id (swapped, empty or foreign
/// directories): the bookie must not join under that id (BookKeeper's InvalidCookieException).
/// </summary>
public sealed class InvalidCookieException(string bookieId, string detail)
    : PulsarishException("InvalidCookie", $"invalid cookie for bookie {bookieId}: {detail}")
{
    public string BookieId { get; } = bookieId;
}
