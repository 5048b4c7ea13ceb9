using System.Diagnostics;
using System.Text.Json;
using Pulsarish.Metadata;

namespace Pulsarish.Hosting.Supervisor;

/// <summary>
/// &lt;data&gt;/supervisor.pid: the supervisor's PID and start time, so <c>down</c> from another shell signals the
/// supervisor and never a later process that reused its PID.
/// </summary>
public static class SupervisorPidFile
{
    public const string FileName = "supervisor.pid";

    private static readonly TimeSpan StartTimeTolerance = TimeSpan.FromSeconds(1);

    private sealed record Record(int Pid, long StartTimeUtcTicks);

    public static string PathIn(string dataDir) => Path.Combine(dataDir, FileName);

    /// <summary>Records this process.</summary>
    public static void WriteSelf(string dataDir)
    {
        using var self = Process.GetCurrentProcess();
        var record = new Record(self.Id, self.StartTime.ToUniversalTime().Ticks);
        string path = PathIn(dataDir);
        AtomicFile.Write(path, JsonSerializer.SerializeToUtf8Bytes(record));
    }

    public static void Delete(string dataDir) => File.Delete(PathIn(dataDir));

    /// <summary>The live supervisor recorded in <paramref name="dataDir"/>, or null (no file, dead, or PID reused).</summary>
    public static Process? FindLive(string dataDir)
    {
        Record? record;
        try
        {
            record = JsonSerializer.Deserialize<Record>(File.ReadAllText(PathIn(dataDir)));
        }
        catch (Exception e) when (e is IOException or JsonException or UnauthorizedAccessException)
        {
            return null;
        }
        if (record is null) return null;
        Process process;
        try
        {
            process = Process.GetProcessById(record.Pid);
        }
        catch (ArgumentException)
        {
            return null;
        }
        try
        {
            var started = process.StartTime.ToUniversalTime().Ticks;
            if (!process.HasExited && Math.Abs(started - record.StartTimeUtcTicks) <= StartTimeTolerance.Ticks) return process;
        }
        catch (InvalidOperationException)
        {
            // Exited between the lookup and the check.
        }
        process.Dispose();
        return null;
    }
}
