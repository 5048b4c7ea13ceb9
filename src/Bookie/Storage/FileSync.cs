using System.Diagnostics.CodeAnalysis;
using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;
using Pulsarish.Metadata;

namespace Pulsarish.Bookie.Storage;

/// <summary>
/// O_DIRECT opening of the journal and entry log files (DESIGN §9). The sync primitives live once, in
/// <see cref="FileSystemSync"/> (Metadata, with the EINTR retry); <see cref="DataSync"/> and
/// <see cref="SyncDirectory"/> forward to it for <see cref="Journal"/>, whose replay rework is in flight on another branch.
/// </summary>
internal static partial class FileSync
{
    /// <summary>Same as <see cref="FileSystemSync.SyncFile"/>.</summary>
    public static void DataSync(SafeFileHandle handle) => FileSystemSync.SyncFile(handle);

    /// <summary>Same as <see cref="FileSystemSync.SyncDirectory"/>.</summary>
    public static void SyncDirectory(string directory) => FileSystemSync.SyncDirectory(directory);

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

    private const int O_RDWR = 2;
    private const int O_CLOEXEC = 0x80000;

    [LibraryImport("libc", SetLastError = true, StringMarshalling = StringMarshalling.Utf8)]
    private static partial int open(string path, int flags);
}
