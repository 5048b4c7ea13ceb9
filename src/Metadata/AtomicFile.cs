namespace Pulsarish.Metadata;

/// <summary>
/// Durable, atomic replacement of a whole small file (cookies, metadata snapshots, supervisor records): the bytes go
/// to <c>&lt;path&gt;.tmp</c>, which is fdatasync'd, renamed over <c>&lt;path&gt;</c>, and the directory is fsync'd
/// (<see cref="FileSystemSync"/>). After a crash at any point a reader finds either the old file or the new one,
/// whole; once the call returns, the new one survives power loss. Callers writing the same path must serialize;
/// different paths are independent.
/// </summary>
public static class AtomicFile
{
    /// <summary>Suffix of the temporary file next to the target (left behind only by a crash, overwritten by the next write).</summary>
    public const string TempSuffix = ".tmp";

    /// <summary>Replaces <paramref name="path"/> with <paramref name="data"/>, durably; the directory must exist.</summary>
    public static void Write(string path, ReadOnlySpan<byte> data)
    {
        string temp = TempPath(path);
        try
        {
            using (var handle = File.OpenHandle(temp, FileMode.Create, FileAccess.Write, FileShare.None))
            {
                RandomAccess.Write(handle, data, 0);
                FileSystemSync.SyncFile(handle);
            }
            Publish(temp, path);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    /// <summary>Replaces <paramref name="path"/> with <paramref name="data"/>, durably; the syncs run on the calling thread.</summary>
    public static async Task WriteAsync(string path, ReadOnlyMemory<byte> data, CancellationToken ct = default)
    {
        string temp = TempPath(path);
        try
        {
            using (var handle = File.OpenHandle(temp, FileMode.Create, FileAccess.Write, FileShare.None, FileOptions.Asynchronous))
            {
                await RandomAccess.WriteAsync(handle, data, 0, ct).ConfigureAwait(false);
                FileSystemSync.SyncFile(handle);
            }
            Publish(temp, path);
        }
        catch
        {
            TryDelete(temp);
            throw;
        }
    }

    private static string TempPath(string path)
    {
        ArgumentException.ThrowIfNullOrEmpty(path);
        return path + TempSuffix;
    }

    private static void Publish(string temp, string path)
    {
        File.Move(temp, path, overwrite: true);
        FileSystemSync.SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    private static void TryDelete(string temp)
    {
        try
        {
            File.Delete(temp);
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            // The next write truncates it.
        }
    }
}
