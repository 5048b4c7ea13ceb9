using System.Net;
using Microsoft.Extensions.Options;

namespace Pulsarish.Bookie;

/// <summary>Start-up validation of <see cref="BookieOptions"/> (used with <c>ValidateOnStart</c>).</summary>
public sealed class BookieOptionsValidator : IValidateOptions<BookieOptions>
{
    /// <inheritdoc />
    public ValidateOptionsResult Validate(string? name, BookieOptions options)
    {
        var failures = new List<string>();
        if (options.Port is < 0 or > 65535)
        {
            failures.Add($"Port must be in 0..65535, was {options.Port}");
        }

        if (!IPAddress.TryParse(options.BindAddress, out _))
        {
            failures.Add($"BindAddress must be an IP address, was '{options.BindAddress}'");
        }

        if (string.IsNullOrWhiteSpace(options.JournalDir))
        {
            failures.Add("JournalDir is required");
        }

        if (string.IsNullOrWhiteSpace(options.LedgersDir))
        {
            failures.Add("LedgersDir is required");
        }

        if (string.IsNullOrWhiteSpace(options.IndexDir))
        {
            failures.Add("IndexDir is required");
        }

        if (options.MinorCompactionInterval <= TimeSpan.Zero || options.MajorCompactionInterval <= TimeSpan.Zero)
        {
            failures.Add("MinorCompactionInterval and MajorCompactionInterval must be positive");
        }

        if (options.MaxEntryBytes is < 1 or > 256 * 1024 * 1024)
        {
            failures.Add($"MaxEntryBytes must be in 1..268435456, was {options.MaxEntryBytes}");
        }

        if (options.GroupWaitMicros is < 0 or > 1_000_000)
        {
            failures.Add($"GroupWaitMicros must be in 0..1000000, was {options.GroupWaitMicros}");
        }

        if (options.MaxGroupBytes < 4096)
        {
            failures.Add($"MaxGroupBytes must be >= 4096, was {options.MaxGroupBytes}");
        }

        if (options.MaxInFlightAddsPerStream < 1)
        {
            failures.Add($"MaxInFlightAddsPerStream must be >= 1, was {options.MaxInFlightAddsPerStream}");
        }

        if (options.MaxAddResponsesPerMessage < 1)
        {
            failures.Add($"MaxAddResponsesPerMessage must be >= 1, was {options.MaxAddResponsesPerMessage}");
        }

        if (options.MaxMasterKeyBytes < 0)
        {
            failures.Add($"MaxMasterKeyBytes must be >= 0, was {options.MaxMasterKeyBytes}");
        }

        if (options.DiskUsageThreshold is <= 0 or > 1)
        {
            failures.Add($"DiskUsageThreshold must be in (0, 1], was {options.DiskUsageThreshold}");
        }

        if (options.DiskUsageLwmThreshold <= 0 || options.DiskUsageLwmThreshold > options.DiskUsageThreshold)
        {
            // Below the high-water mark, or a read-only bookie could never turn writable again.
            failures.Add($"DiskUsageLwmThreshold must be in (0, DiskUsageThreshold={options.DiskUsageThreshold}], " +
                $"was {options.DiskUsageLwmThreshold}");
        }

        if (options.DiskCheckInterval <= TimeSpan.Zero)
        {
            failures.Add("DiskCheckInterval must be positive");
        }

        if (options.MetricsPort is < 0 or > 65535)
        {
            failures.Add($"MetricsPort must be in 0..65535, was {options.MetricsPort}");
        }

        if (options.ShutdownTimeout < TimeSpan.Zero)
        {
            failures.Add("ShutdownTimeout must not be negative");
        }

        return failures.Count == 0 ? ValidateOptionsResult.Success : ValidateOptionsResult.Fail(failures);
    }
}
