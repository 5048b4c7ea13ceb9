using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Pulsarish.Hosting.Supervisor;

/// <summary>Sends POSIX signals. .NET offers only SIGKILL (<see cref="Process.Kill()"/>); graceful stops need SIGTERM.</summary>
public static partial class PosixSignals
{
    public const int SigTerm = 15;

    /// <summary>
    /// Sends SIGTERM to a child we hold the handle of. The handle guards against PID reuse: the runtime reaps the
    /// child (and only then may the PID be reused) before <see cref="Process.HasExited"/> turns true.
    /// </summary>
    public static bool Terminate(Process process)
    {
        if (process.HasExited) return false;
        return Kill(process.Id, SigTerm) == 0;
    }

    /// <summary>Sends SIGTERM to this process (the same path as <c>kill PID</c> from a shell: the graceful stop).</summary>
    public static void TerminateSelf() => Kill(Environment.ProcessId, SigTerm);

    /// <summary>Sends SIGTERM to a process known only by PID (the supervisor's, from its pid file, after checking its start time).</summary>
    public static bool Terminate(int pid) => Kill(pid, SigTerm) == 0;

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int Kill(int pid, int signal);
}
