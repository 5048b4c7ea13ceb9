using Pulsarish.Broker.Errors;

namespace Pulsarish.Broker.Topics;

/// <summary>
/// A position (ledgerId, entryId) in a managed ledger, ordered by ledger then entry. Entry id -1 means "before the
/// first entry of that ledger" (a mark-delete position that acknowledges nothing of it).
/// </summary>
public readonly record struct Position(long LedgerId, long EntryId) : IComparable<Position>
{
    /// <summary>Before everything.</summary>
    public static readonly Position Earliest = new(-1, -1);

    public int CompareTo(Position other)
    {
        int c = LedgerId.CompareTo(other.LedgerId);
        return c != 0 ? c : EntryId.CompareTo(other.EntryId);
    }

    public static bool operator <(Position a, Position b) => a.CompareTo(b) < 0;
    public static bool operator >(Position a, Position b) => a.CompareTo(b) > 0;
    public static bool operator <=(Position a, Position b) => a.CompareTo(b) <= 0;
    public static bool operator >=(Position a, Position b) => a.CompareTo(b) >= 0;

    public static Position Max(Position a, Position b) => a >= b ? a : b;
    public static Position Min(Position a, Position b) => a <= b ? a : b;

    public Protocol.Metadata.Position ToProto() => new() { LedgerId = LedgerId, EntryId = EntryId };

    /// <summary>
    /// A position read back from metadata or a cursor ledger (a trust boundary): null is <see cref="Earliest"/>; an id
    /// below -1 is corrupt (<see cref="PersistenceException"/>).
    /// </summary>
    public static Position FromProto(Protocol.Metadata.Position? p)
    {
        if (p is null)
        {
            return Earliest;
        }
        if (p.LedgerId < -1 || p.EntryId < -1)
        {
            throw new PersistenceException($"invalid stored position {p.LedgerId}:{p.EntryId}");
        }
        return new(p.LedgerId, p.EntryId);
    }

    public override string ToString() => $"{LedgerId}:{EntryId}";
}
