using System.Diagnostics;
using System.Runtime.InteropServices;
using HdrHistogram;
using Microsoft.Win32.SafeHandles;

namespace Pulsarish.Cli;

/// <summary>
/// The disk's durable-append ceiling, the yardstick of the bookie benchmark: plain sequential appends of
/// <c>groupBytes</c> to a fresh file, each followed by fdatasync — what a journal doing group commit cannot beat on
/// that disk.
/// </summary>
public static partial class DiskCeiling
{
    /// <summary>Figures of one ceiling run.</summary>
    /// <param name="BytesPerSecond">Durable bytes per second.</param>
    /// <param name="SyncsPerSecond">fdatasync calls per second.</param>
    /// <param name="MedianSyncMicros">Median latency of write+fdatasync of one group, µs.</param>
    /// <param name="P99SyncMicros">99th percentile of the same, µs.</param>
    /// <param name="GroupBytes">Bytes written per fdatasync.</param>
    public readonly record struct Result(double BytesPerSecond, double SyncsPerSecond, long MedianSyncMicros,
        long P99SyncMicros, int GroupBytes);

    /// <summary>Appends groups to a temp file in <paramref name="directory"/> for <paramref name="duration"/>.</summary>
    public static Result Measure(string directory, int groupBytes, TimeSpan duration)
    {
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, $"disk-ceiling-{Environment.ProcessId}.tmp");
        var latency = new LongHistogram(1, 60_000_000, 3);
        byte[] group = new byte[groupBytes];
        Random.Shared.NextBytes(group);
        long bytes = 0;
        long syncs = 0;
        try
        {
            using var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.Write, FileShare.None);
            long offset = 0;
            var clock = Stopwatch.StartNew();
            while (clock.Elapsed < duration)
            {
                long start = Stopwatch.GetTimestamp();
                RandomAccess.Write(handle, group, offset);
                DataSync(handle);
                latency.RecordValue(Math.Max(1, (long)Stopwatch.GetElapsedTime(start).TotalMicroseconds));
                offset += groupBytes;
                bytes += groupBytes;
                syncs++;
            }

            double seconds = clock.Elapsed.TotalSeconds;
            return new Result(bytes / seconds, syncs / seconds, latency.GetValueAtPercentile(50),
                latency.GetValueAtPercentile(99), groupBytes);
        }
        finally
        {
            File.Delete(path);
        }
    }

    private static void DataSync(SafeFileHandle handle)
    {
        if (!OperatingSystem.IsLinux())
        {
            RandomAccess.FlushToDisk(handle);
            return;
        }

        if (fdatasync((int)handle.DangerousGetHandle()) != 0)
        {
            throw new IOException($"fdatasync failed: errno {Marshal.GetLastPInvokeError()}");
        }
    }

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fdatasync(int fd);
}
