using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Pulsarish.Bookie.Storage;

/// <summary>
/// Durability primitives: fdatasync of a file and fsync of a directory (so a newly created or renamed file's name
/// survives power loss). On Linux these call libc directly; elsewhere they fall back to the portable flush.
/// </summary>
internal static partial class FileSync
{
    /// <summary>Forces the file's data (and the metadata needed to read it back) to stable storage.</summary>
    public static void DataSync(SafeFileHandle handle)
    {
        if (OperatingSystem.IsLinux())
        {
            bool added = false;
            handle.DangerousAddRef(ref added);
            try
            {
                int fd = (int)handle.DangerousGetHandle();
                while (fdatasync(fd) != 0)
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
            return;
        }
        RandomAccess.FlushToDisk(handle);
    }

    /// <summary>Makes the directory's entries (file creations, renames, deletions) durable.</summary>
    public static void SyncDirectory(string directory)
    {
        if (!OperatingSystem.IsLinux())
        {
            return;
        }
        int fd = open(directory, O_RDONLY);
        if (fd < 0)
        {
            throw new IOException($"open({directory}) failed: errno {Marshal.GetLastPInvokeError()}");
        }
        try
        {
            while (fsync(fd) != 0)
            {
                int errno = Marshal.GetLastPInvokeError();
                if (errno != EINTR)
                {
                    throw new IOException($"fsync({directory}) failed: errno {errno}");
                }
            }
        }
        finally
        {
            close(fd);
        }
    }

    /// <summary>Writes <paramref name="data"/> to <paramref name="path"/> atomically: temp file, fsync, rename, fsync directory.</summary>
    public static void WriteAtomically(string path, ReadOnlySpan<byte> data)
    {
        string temp = path + ".tmp";
        using (var handle = File.OpenHandle(temp, FileMode.Create, FileAccess.Write, FileShare.None))
        {
            RandomAccess.Write(handle, data, 0);
            DataSync(handle);
        }
        File.Move(temp, path, overwrite: true);
        SyncDirectory(Path.GetDirectoryName(Path.GetFullPath(path))!);
    }

    /// <summary>
    /// Opens an existing file for reading and writing with O_DIRECT (Linux). False, with nothing opened, when the
    /// platform or the file system refuses it (tmpfs, for one); the caller then writes through the page cache.
    /// </summary>
    public static bool TryOpenDirect(string path, [NotNullWhen(true)] out SafeFileHandle? handle)
    {
        handle = null;
        if (!OperatingSystem.IsLinux())
        {
            return false;
        }
        int direct = RuntimeInformation.ProcessArchitecture switch
        {
            Architecture.X64 or Architecture.X86 => 0x4000,
            Architecture.Arm64 or Architecture.Arm => 0x10000,
            _ => 0,
        };
        if (direct == 0)
        {
            return false;
        }
        int fd = open(path, O_RDWR | O_CLOEXEC | direct);
        if (fd < 0)
        {
            return false;
        }
        var opened = new SafeFileHandle(fd, ownsHandle: true);
        if (!ProbeDirectWrite(opened))
        {
            opened.Dispose();
            return false;
        }
        handle = opened;
        return true;
    }

    /// <summary>
    /// Some file systems accept O_DIRECT at open and refuse the writes (alignment, overlay mounts): one aligned page is
    /// written at the end of the (empty, new) file and cut off again, so a refusal shows here and not on an append.
    /// </summary>
    private static bool ProbeDirectWrite(SafeFileHandle handle)
    {
        long length = RandomAccess.GetLength(handle);
        if (length % ProbePage != 0)
        {
            return false;
        }
        byte[] page = GC.AllocateArray<byte>(2 * ProbePage, pinned: true);
        int start = (int)((ProbePage - (Marshal.UnsafeAddrOfPinnedArrayElement(page, 0) & (ProbePage - 1))) & (ProbePage - 1));
        try
        {
            RandomAccess.Write(handle, page.AsSpan(start, ProbePage), length);
            RandomAccess.SetLength(handle, length);
            return true;
        }
        catch (Exception e) when (e is IOException or ArgumentException or NotSupportedException or UnauthorizedAccessException)
        {
            // EINVAL surfaces as an IOException or an ArgumentException depending on the call.
            return false;
        }
    }

    private const int ProbePage = 4096;

    private const int EINTR = 4;
    private const int O_RDWR = 2;
    private const int O_CLOEXEC = 0x80000;
    private const int O_RDONLY = 0;

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fdatasync(int fd);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int fsync(int fd);

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);

    [LibraryImport("libc", SetLastError = true)]
    private static partial int close(int fd);
}
