using System.Globalization;

namespace Pulsarish.Metadata;

/// <summary>The metadata layout of DESIGN.md §6 (ZooKeeper and embedded store alike).</summary>
public static class MetadataPaths
{
    public const string Ledgers = "/ledgers";

    /// <summary>Prefix of ledger record names: /ledgers/L&lt;ledgerId&gt;.</summary>
    public const string LedgerPrefix = "L";

    public const string LedgerIdGenerator = "/ledgers/idgen";
    public const string AvailableBookies = "/ledgers/available";
    public const string Cookies = "/ledgers/cookies";
    public const string UnderReplicatedLedgers = "/ledgers/underreplication/ledgers";
    public const string UnderReplicationLocks = "/ledgers/underreplication/locks";
    public const string Auditor = "/ledgers/auditor";

    public static string Ledger(long ledgerId) => Ledgers + "/" + LedgerPrefix + ledgerId.ToString(CultureInfo.InvariantCulture);

    public static string AvailableBookie(string bookieId) => AvailableBookies + "/" + bookieId;

    public static string Cookie(string bookieId) => Cookies + "/" + bookieId;

    /// <summary>Parses a child name of /ledgers as a ledger id ("L123" → 123); false for other children.</summary>
    public static bool TryParseLedgerName(string name, out long ledgerId)
    {
        ledgerId = 0;
        return name.Length > LedgerPrefix.Length
            && name.StartsWith(LedgerPrefix, StringComparison.Ordinal)
            && char.IsAsciiDigit(name[LedgerPrefix.Length])
            && long.TryParse(name.AsSpan(LedgerPrefix.Length), NumberStyles.None, CultureInfo.InvariantCulture, out ledgerId);
    }
}
