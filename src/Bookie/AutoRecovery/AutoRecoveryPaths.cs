namespace Pulsarish.Bookie.AutoRecovery;

/// <summary>Metadata paths owned by AutoRecovery beyond those of <see cref="Common.Metadata.MetadataPaths"/>.</summary>
public static class AutoRecoveryPaths
{
    /// <summary>Parent of the tombstones of decommissioned bookie ids: such an id may not join again.</summary>
    public const string Decommissioned = "/ledgers/decommissioned";

    /// <summary>Name prefix of auditor election candidates (ephemeral sequential) under /ledgers/auditor.</summary>
    public const string AuditorCandidatePrefix = "candidate-";

    public static string DecommissionedBookie(string bookieId) => Decommissioned + "/" + bookieId;
}
