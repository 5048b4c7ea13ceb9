using System.Net;
using Pulsarish.Bookie.Registration;

namespace Pulsarish.Bookie;

/// <summary>
/// Settings of one bookie process: where it listens, where it stores, and its limits. Defaults follow Apache
/// BookKeeper's <c>bk_server.conf</c> where a counterpart exists (named in each summary). Bound from configuration
/// or the command line and validated at start-up by <see cref="BookieOptionsValidator"/>.
/// </summary>
public sealed class BookieOptions
{
    /// <summary>Configuration section name.</summary>
    public const string SectionName = "Bookie";

    /// <summary>
    /// Stable identity of the bookie in metadata. Null means the listening address ("127.0.0.1:port"), as
    /// BookKeeper does with <c>useHostNameAsBookieID=false</c>.
    /// </summary>
    public string? BookieId { get; set; }

    /// <summary>Address the gRPC endpoint binds to; loopback by default.</summary>
    public string BindAddress { get; set; } = "127.0.0.1";

    /// <summary>gRPC port (HTTP/2 cleartext); 0 picks a free port. BookKeeper: <c>bookiePort=3181</c>.</summary>
    public int Port { get; set; } = 3181;

    /// <summary>Journal directory (ideally its own disk). BookKeeper: <c>journalDirectories</c>.</summary>
    public string JournalDir { get; set; } = "";

    /// <summary>Entry log directory. BookKeeper: <c>ledgerDirectories</c>.</summary>
    public string LedgersDir { get; set; } = "";

    /// <summary>Index (RocksDB) directory. BookKeeper: <c>indexDirectories</c>.</summary>
    public string IndexDir { get; set; } = "";

    /// <summary>
    /// Largest accepted entry payload in bytes; bigger adds are answered TOO_LARGE. BookKeeper:
    /// <c>nettyMaxFrameSizeBytes=5242880</c>.
    /// </summary>
    public int MaxEntryBytes { get; set; } = 5 * 1024 * 1024;

    /// <summary>Longest wait of the journal's group commit, in microseconds. BookKeeper: <c>journalMaxGroupWaitMSec=2</c>.</summary>
    public int GroupWaitMicros { get; set; } = 2_000;

    /// <summary>
    /// Journal and entry-log appends bypass the page cache with O_DIRECT where the file system allows it
    /// (<see cref="Storage.StorageOptions.DirectWrites"/>).
    /// </summary>
    public bool DirectWrites { get; set; } = true;

    /// <summary>
    /// Start over a damaged journal instead of refusing to (<c>--accept-journal-corruption</c>; off by default, no
    /// BookKeeper counterpart). By default a bad record in a journal file before the last one, a record of unknown kind,
    /// or a bad record in the last file followed by valid ones, stops the start-up with an error naming the file and
    /// offset (acknowledged entries are damaged). With this set the operator accepts their loss: the journal is
    /// truncated at the damage, an error names file and offset, and the bookie serves read-only until its next restart
    /// (recovery adds and reads still work) while AutoRecovery's periodic check, or
    /// <c>pulsarish admin bookies recover</c>, re-replicates what it lost. See
    /// <see cref="Storage.StorageOptions.AcceptJournalCorruption"/>.
    /// </summary>
    public bool AcceptJournalCorruption { get; set; }

    /// <summary>Bytes after which a journal group is written without waiting. BookKeeper: <c>journalBufferedWritesThreshold=524288</c>.</summary>
    public int MaxGroupBytes { get; set; } = 512 * 1024;

    /// <summary>
    /// Adds one Add stream may have in flight (awaiting journal durability or the response write). When reached,
    /// the bookie stops reading that stream (HTTP/2 flow control pushes back on the writer).
    /// </summary>
    public int MaxInFlightAddsPerStream { get; set; } = 4_096;

    /// <summary>
    /// Answers one AddBatchResponse carries at most: the AddBatch stream's writer puts every completion queued since
    /// its last write (typically one group commit) into one message, up to this many.
    /// </summary>
    public int MaxAddResponsesPerMessage { get; set; } = 1_024;

    /// <summary>Largest master key accepted, in bytes (BookKeeper's keys are 20-byte SHA-1 digests).</summary>
    public int MaxMasterKeyBytes { get; set; } = 256;

    /// <summary>
    /// Disk usage fraction beyond which the bookie turns read-only and refuses normal adds. BookKeeper:
    /// <c>diskUsageThreshold=0.95</c>.
    /// </summary>
    public double DiskUsageThreshold { get; set; } = 0.95;

    /// <summary>
    /// Disk usage fraction below which a read-only bookie turns writable again (at most
    /// <see cref="DiskUsageThreshold"/>). BookKeeper: <c>diskUsageLwmThreshold=0.90</c>.
    /// </summary>
    public double DiskUsageLwmThreshold { get; set; } = 0.90;

    /// <summary>
    /// How often periodic garbage collection compacts entry logs less than 20 % live (minor compaction). BookKeeper:
    /// <c>minorCompactionInterval=3600</c> s. See <see cref="Storage.StorageOptions.MinorCompactionInterval"/>.
    /// </summary>
    public TimeSpan MinorCompactionInterval { get; set; } = new Storage.StorageOptions().MinorCompactionInterval;

    /// <summary>
    /// How often periodic garbage collection compacts entry logs less than 50 % live (major compaction). BookKeeper:
    /// <c>majorCompactionInterval=86400</c> s. See <see cref="Storage.StorageOptions.MajorCompactionInterval"/>.
    /// </summary>
    public TimeSpan MajorCompactionInterval { get; set; } = new Storage.StorageOptions().MajorCompactionInterval;

    /// <summary>Cluster metadata: cookie, registration, garbage collection, AutoRecovery. Null = no metadata store.</summary>
    public BookieRegistrationOptions? Registration { get; set; }

    /// <summary>How often disk usage is checked. BookKeeper: <c>diskCheckInterval=10000</c> ms.</summary>
    public TimeSpan DiskCheckInterval { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>
    /// Port of the HTTP/1.1 Prometheus endpoint (<c>/metrics</c>); null disables it, 0 picks a free port.
    /// BookKeeper: <c>prometheusStatsHttpPort=8000</c> (off unless the stats provider is enabled).
    /// </summary>
    public int? MetricsPort { get; set; }

    /// <summary>How long a graceful stop waits for in-flight calls before storage is flushed and closed.</summary>
    public TimeSpan ShutdownTimeout { get; set; } = TimeSpan.FromSeconds(10);

    /// <summary>The parsed <see cref="BindAddress"/>.</summary>
    public IPAddress ParsedBindAddress => IPAddress.Parse(BindAddress);
}
