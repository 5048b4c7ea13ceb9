using System.Globalization;

namespace Pulsarish.Hosting.Supervisor;

/// <summary>Resident memory of a process and its descendants, from /proc (Linux).</summary>
internal static class ProcessTreeMemory
{
    private const int MaxProcesses = 64;

    /// <summary>Sum of VmRSS over the tree rooted at <paramref name="pid"/>; 0 when /proc is unavailable.</summary>
    public static long ResidentBytes(int pid)
    {
        long total = 0;
        var pending = new Stack<int>();
        pending.Push(pid);
        int visited = 0;
        while (pending.Count > 0 && visited++ < MaxProcesses)
        {
            int current = pending.Pop();
            total += VmRssBytes(current);
            foreach (int child in Children(current)) pending.Push(child);
        }
        return total;
    }

    private static long VmRssBytes(int pid)
    {
        try
        {
            foreach (var line in File.ReadLines($"/proc/{pid}/status"))
            {
                if (!line.StartsWith("VmRSS:", StringComparison.Ordinal)) continue;
                var parts = line[6..].Trim().Split(' ', StringSplitOptions.RemoveEmptyEntries);
                return long.Parse(parts[0], CultureInfo.InvariantCulture) * 1024;
            }
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException or FormatException)
        {
            // The process is gone or /proc is not there.
        }
        return 0;
    }

    private static IEnumerable<int> Children(int pid)
    {
        string text;
        try
        {
            text = File.ReadAllText($"/proc/{pid}/task/{pid}/children");
        }
        catch (Exception e) when (e is IOException or UnauthorizedAccessException)
        {
            return [];
        }
        var result = new List<int>();
        foreach (var part in text.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            if (int.TryParse(part, NumberStyles.None, CultureInfo.InvariantCulture, out int child)) result.Add(child);
        return result;
    }
}
