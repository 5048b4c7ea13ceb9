using Pulsarish.Bookie.AutoRecovery;
using Pulsarish.Metadata;

namespace Pulsarish.Bookie.Registration;

/// <summary>
/// How a bookie joins the cluster's metadata (DESIGN.md §6): where the store is, the rack it announces, garbage
/// collection against the ledger list, and whether AutoRecovery runs in the bookie. Defaults follow BookKeeper's
/// <c>bk_server.conf</c> where a counterpart exists.
/// </summary>
public sealed class BookieRegistrationOptions
{
    /// <summary>Metadata store URL (<c>zk:host:port[/chroot]</c>, <c>embedded:/dir</c>, <c>memory:</c>). BookKeeper: <c>metadataServiceUri</c>.</summary>
    public string MetadataUrl { get; set; } = "";

    /// <summary>Session timeout of the bookie's metadata session. BookKeeper: <c>zkTimeout=10000</c> ms (Pulsar uses 30 s).</summary>
    public TimeSpan SessionTimeout { get; set; } = MetadataStoreFactory.DefaultSessionTimeout;

    /// <summary>Rack announced in the registration (rack-aware placement); empty = the default rack.</summary>
    public string Rack { get; set; } = "";

    /// <summary>Run AutoRecovery (auditor candidate + replication worker) inside the bookie. BookKeeper: <c>autoRecoveryDaemonEnabled</c>.</summary>
    public bool AutoRecoveryEnabled { get; set; } = true;

    /// <summary>Settings of the in-bookie AutoRecovery.</summary>
    public AutoRecoveryOptions AutoRecovery { get; set; } = new();

    /// <summary>
    /// Interval between garbage-collection passes. BookKeeper: <c>gcWaitTime=900000</c> ms. Bounds how long the disk of
    /// ledgers deleted in metadata stays in use: entry logs without live data are deleted within one interval plus one
    /// pass; partly live ones at the next minor/major compaction (<see cref="BookieOptions.MinorCompactionInterval"/>).
    /// The standalone uses <c>StandaloneOptions.GcInterval</c> (60 s) instead.
    /// </summary>
    public TimeSpan GcInterval { get; set; } = TimeSpan.FromMinutes(15);

    /// <summary>How often the read-only flag is compared with the registration (re-registered on change).</summary>
    public TimeSpan ReadOnlyCheckInterval { get; set; } = TimeSpan.FromSeconds(1);

    /// <summary>How long to wait for a previous incarnation's registration to expire at start-up.</summary>
    public TimeSpan StaleRegistrationTimeout { get; set; } = BookieRegistry.DefaultStaleRegistrationTimeout;

    /// <summary>Throws <see cref="ArgumentException"/> on a setting out of range.</summary>
    public void Validate()
    {
        if (string.IsNullOrWhiteSpace(MetadataUrl)) throw new ArgumentException("MetadataUrl is required");
        if (SessionTimeout <= TimeSpan.Zero) throw new ArgumentException("SessionTimeout must be positive");
        if (GcInterval <= TimeSpan.Zero) throw new ArgumentException("GcInterval must be positive");
        if (ReadOnlyCheckInterval <= TimeSpan.Zero) throw new ArgumentException("ReadOnlyCheckInterval must be positive");
        if (StaleRegistrationTimeout < TimeSpan.Zero) throw new ArgumentException("StaleRegistrationTimeout must not be negative");
        if (Rack.Length > 0 && !Rack.StartsWith('/')) throw new ArgumentException($"rack '{Rack}' must start with '/'");
        ArgumentNullException.ThrowIfNull(AutoRecovery);
        AutoRecovery.Validate();
    }
}
