using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Pulsarish.Metadata;

/// <summary>
/// The durability primitives every project shares: fdatasync of a file and fsync of a directory (so that a created,
/// renamed or deleted file's name survives power loss). On Linux they call libc and retry on EINTR; elsewhere the file
/// sync falls back to <see cref="RandomAccess.FlushToDisk"/> and the directory sync is a no-op on Windows.
/// <see cref="AtomicFile"/> builds the durable whole-file replacement on them. Thread-safe (stateless).
/// </summary>
public static partial class FileSystemSync
{
    private const int EINTR = 4;
    private const int O_RDONLY = 0;
    private const int O_CLOEXEC = 0x80000; // the same on x64 and arm64 Linux

    /// <summary>Forces the file's data (and the metadata needed to read it back) to stable storage; retries on EINTR.</summary>
    public static void SyncFile(SafeFileHandle handle)
    {
        ArgumentNullException.ThrowIfNull(handle);
        if (!OperatingSystem.IsLinux())
        {
            RandomAccess.FlushToDisk(handle);
            return;
        }
        bool added = false;
        handle.DangerousAddRef(ref added);
        try
        {
            int fd = (int)handle.DangerousGetHandle();
            while (FDataSync(fd) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno != EINTR)
                {
                    throw new IOException($"fdatasync failed: errno {errno}");
                }
            }
        }
        finally
        {
            if (added)
            {
                handle.DangerousRelease();
            }
        }
    }

    /// <summary>
    /// Makes the directory's entries (file creations, renames, deletions) durable; retries on EINTR. Throws
    /// <see cref="IOException"/> when the directory cannot be opened or synced.
    /// </summary>
    public static void SyncDirectory(string directory)
    {
        ArgumentException.ThrowIfNullOrEmpty(directory);
        if (OperatingSystem.IsWindows())
        {
            return;
        }
        int fd = Open(directory, O_RDONLY | (OperatingSystem.IsLinux() ? O_CLOEXEC : 0));
        if (fd < 0)
        {
            throw new IOException($"cannot open directory {directory} for fsync (errno {Marshal.GetLastPInvokeError()})");
        }
        try
        {
            while (Fsync(fd) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno != EINTR)
                {
                    throw new IOException($"fsync of directory {directory} failed (errno {errno})");
                }
            }
        }
        finally
        {
            _ = Close(fd);
        }
    }

    [LibraryImport("libc", EntryPoint = "open", StringMarshalling = StringMarshalling.Utf8, SetLastError = true)]
    private static partial int Open(string path, int flags);

    [LibraryImport("libc", EntryPoint = "fsync", SetLastError = true)]
    private static partial int Fsync(int fd);

    [LibraryImport("libc", EntryPoint = "fdatasync", SetLastError = true)]
    private static partial int FDataSync(int fd);

    [LibraryImport("libc", EntryPoint = "close", SetLastError = true)]
    private static partial int Close(int fd);
}
