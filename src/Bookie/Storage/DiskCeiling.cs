using System.Diagnostics;
using Pulsarish.Metadata;

namespace Pulsarish.Bookie.Storage;

/// <summary>Result of <see cref="DiskCeiling.Measure"/>.</summary>
/// <param name="BytesPerSecond">Sequential write + fdatasync throughput.</param>
/// <param name="MedianSyncLatency">Median time of one write + fdatasync of a group.</param>
/// <param name="SyncsPerSecond">Groups (fdatasyncs) per second.</param>
public readonly record struct DiskCeilingResult(double BytesPerSecond, TimeSpan MedianSyncLatency, double SyncsPerSecond);

/// <summary>
/// The raw ceiling a journal can reach on a disk: a plain loop of sequential write + fdatasync, with no queue,
/// no checksums and no waiters. Benchmarks report journal throughput as a fraction of this, measured in the same run.
/// </summary>
public static class DiskCeiling
{
    /// <summary>
    /// Writes <paramref name="groups"/> groups of <paramref name="bytesPerGroup"/> bytes sequentially into a scratch
    /// file in <paramref name="dir"/>, fdatasyncing after each, then deletes the file. With
    /// <paramref name="preallocate"/> the file is zero-filled (and synced) first, as the journal does, so that each
    /// fdatasync needs no size update; without it every write appends.
    /// </summary>
    public static DiskCeilingResult Measure(string dir, int bytesPerGroup, int groups, bool preallocate = true)
    {
        ArgumentOutOfRangeException.ThrowIfLessThan(bytesPerGroup, 1);
        ArgumentOutOfRangeException.ThrowIfLessThan(groups, 1);
        Directory.CreateDirectory(dir);
        string path = Path.Combine(dir, $"disk-ceiling-{Environment.ProcessId}-{Guid.NewGuid():N}.tmp");
        byte[] data = new byte[bytesPerGroup];
        Random.Shared.NextBytes(data);
        var latencies = new double[groups];
        try
        {
            using var handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.None);
            if (preallocate)
            {
                byte[] zeros = new byte[1 << 20];
                long total = (long)bytesPerGroup * groups;
                for (long at = 0; at < total; at += zeros.Length)
                {
                    RandomAccess.Write(handle, zeros.AsSpan(0, (int)Math.Min(zeros.Length, total - at)), at);
                }
                FileSystemSync.SyncFile(handle);
            }
            long offset = 0;
            long start = Stopwatch.GetTimestamp();
            for (int i = 0; i < groups; i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                RandomAccess.Write(handle, data, offset);
                FileSystemSync.SyncFile(handle);
                latencies[i] = Stopwatch.GetElapsedTime(t0).TotalMilliseconds;
                offset += bytesPerGroup;
            }
            double seconds = Stopwatch.GetElapsedTime(start).TotalSeconds;
            Array.Sort(latencies);
            return new DiskCeilingResult((double)bytesPerGroup * groups / seconds,
                TimeSpan.FromMilliseconds(latencies[groups / 2]), groups / seconds);
        }
        finally
        {
            File.Delete(path);
        }
    }
}
