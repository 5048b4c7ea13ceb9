using System.Diagnostics;

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
    /// file in <paramref name="dir"/>, fdatasyncing after each, then deletes the file.
    /// </summary>
    public static DiskCeilingResult Measure(string dir, int bytesPerGroup, int groups)
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
            long offset = 0;
            long start = Stopwatch.GetTimestamp();
            for (int i = 0; i < groups; i++)
            {
                long t0 = Stopwatch.GetTimestamp();
                RandomAccess.Write(handle, data, offset);
                FileSync.DataSync(handle);
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
