using Microsoft.Extensions.Logging;

namespace Pulsarish.Bookie.Server;

/// <summary>
/// Mutable runtime state of a bookie shared by its gRPC service: identity, read-only and shutting-down flags,
/// disk usage, and the number of adds awaiting journal durability. Thread-safe (volatile fields and Interlocked
/// counters).
/// </summary>
public sealed class BookieState
{
    private readonly BookieOptions _options;
    private readonly ILogger _logger;
    private long _addsInFlight;
    private int _openAddStreams;
    private long _freeDiskBytes;
    private long _totalDiskBytes;
    private volatile bool _readOnly;
    private volatile bool _readOnlyUntilRestart;
    private volatile bool _shuttingDown;
    private readonly CancellationTokenSource _stopping = new();

    public BookieState(string bookieId, BookieOptions options, ILogger logger)
    {
        BookieId = bookieId;
        _options = options;
        _logger = logger;
    }

    /// <summary>The bookie's identity in metadata.</summary>
    public string BookieId { get; }

    /// <summary>
    /// True when disks are beyond <see cref="BookieOptions.DiskUsageThreshold"/>, or after
    /// <see cref="ReadOnlyUntilRestart"/>: normal adds are refused.
    /// </summary>
    public bool ReadOnly => _readOnly || _readOnlyUntilRestart;

    /// <summary>True once a graceful stop began: new adds are refused with SHUTTING_DOWN.</summary>
    public bool ShuttingDown => _shuttingDown;

    /// <summary>Adds handed to storage whose durability has not been reported yet.</summary>
    public long AddsInFlight => Interlocked.Read(ref _addsInFlight);

    /// <summary>Free bytes on the fullest of the bookie's disks at the last check.</summary>
    public long FreeDiskBytes => Interlocked.Read(ref _freeDiskBytes);

    /// <summary>Total bytes of that disk at the last check.</summary>
    public long TotalDiskBytes => Interlocked.Read(ref _totalDiskBytes);

    /// <summary>Add streams currently open.</summary>
    public int OpenAddStreams => Volatile.Read(ref _openAddStreams);

    internal void AddStreamOpened() => Interlocked.Increment(ref _openAddStreams);

    internal void AddStreamClosed() => Interlocked.Decrement(ref _openAddStreams);

    internal void AddStarted() => Interlocked.Increment(ref _addsInFlight);

    internal void AddFinished() => Interlocked.Decrement(ref _addsInFlight);

    /// <summary>Cancelled when a graceful stop begins: long-lived calls (Add streams) end on it.</summary>
    public CancellationToken Stopping => _stopping.Token;

    internal void BeginShutdown()
    {
        _shuttingDown = true;
        _stopping.Cancel();
    }

    /// <summary>
    /// Turns the bookie read-only for the rest of this process, whatever its disks: its storage opened over damage
    /// the operator accepted (<see cref="BookieOptions.AcceptJournalCorruption"/>), so it may lack acknowledged
    /// entries and takes no new ones until they are re-replicated elsewhere.
    /// </summary>
    public void ReadOnlyUntilRestart(string reason)
    {
        _readOnlyUntilRestart = true;
        _logger.LogError("Bookie {BookieId} is read-only until restart: {Reason}", BookieId, reason);
    }

    /// <summary>
    /// Re-reads disk usage of the journal, ledgers and index directories and updates the read-only flag from the
    /// most used one (BookKeeper's LedgerDirsMonitor turns the bookie read-only when every ledger dir is full).
    /// </summary>
    public void RefreshDiskUsage()
    {
        long free = long.MaxValue;
        long total = 0;
        double worstUsage = 0;
        foreach (var dir in new[] { _options.JournalDir, _options.LedgersDir, _options.IndexDir })
        {
            try
            {
                var drive = new DriveInfo(Path.GetFullPath(dir));
                long driveTotal = drive.TotalSize;
                long driveFree = drive.AvailableFreeSpace;
                if (driveTotal <= 0)
                {
                    continue;
                }

                double usage = 1.0 - (double)driveFree / driveTotal;
                if (usage >= worstUsage)
                {
                    worstUsage = usage;
                    free = driveFree;
                    total = driveTotal;
                }
            }
            catch (Exception ex) when (ex is IOException or UnauthorizedAccessException or ArgumentException)
            {
                _logger.LogWarning(ex, "Cannot read disk usage of {Directory}", dir);
            }
        }

        if (total == 0)
        {
            return;
        }

        Interlocked.Exchange(ref _freeDiskBytes, free);
        Interlocked.Exchange(ref _totalDiskBytes, total);
        // Hysteresis: read-only above the threshold, writable again only below the low-water mark.
        bool readOnly = worstUsage > (_readOnly ? Math.Min(_options.DiskUsageLwmThreshold, _options.DiskUsageThreshold) : _options.DiskUsageThreshold);
        if (readOnly != _readOnly)
        {
            _readOnly = readOnly;
            _logger.LogWarning("Bookie {BookieId} read-only={ReadOnly}: disk usage {Usage:P1}, threshold {Threshold:P1}",
                BookieId, readOnly, worstUsage, _options.DiskUsageThreshold);
        }
    }
}
