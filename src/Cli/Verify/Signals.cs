using System.Runtime.InteropServices;

namespace Pulsarish.Cli.Verify;

/// <summary>The POSIX signals the fault injector sends to cluster members by PID (from cluster.json).</summary>
internal static partial class Signals
{
    public const int Kill = 9;
    public const int Term = 15;
    public const int Stop = 19;
    public const int Continue = 18;

    /// <summary>Sends <paramref name="signal"/>; false when the process is gone.</summary>
    public static bool Send(int pid, int signal) => SendSignal(pid, signal) == 0;

    /// <summary>Children and further descendants of <paramref name="pid"/> (from /proc).</summary>
    public static IEnumerable<int> Descendants(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid}/task/{pid}/children");
        }
        catch (IOException)
        {
            yield break;
        }
        foreach (var part in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
        {
            int child = int.Parse(part, System.Globalization.CultureInfo.InvariantCulture);
            yield return child;
            foreach (int d in Descendants(child)) yield return d;
        }
    }

    [LibraryImport("libc", EntryPoint = "kill", SetLastError = true)]
    private static partial int SendSignal(int pid, int signal);
}
