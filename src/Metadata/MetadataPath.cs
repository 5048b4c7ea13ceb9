namespace Pulsarish.Metadata;

/// <summary>
/// Helpers for '/'-separated metadata paths (ZooKeeper rules: absolute, no trailing '/', no empty, "." or ".."
/// segments, no NUL). Thread-safe; allocation only for the returned strings.
/// </summary>
public static class MetadataPath
{
    /// <summary>The root path.</summary>
    public const string Root = "/";

    /// <summary>Throws <see cref="ArgumentException"/> when <paramref name="path"/> is not a valid absolute path.</summary>
    public static void Validate(string path)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (path.Length == 0 || path[0] != '/')
        {
            throw new ArgumentException($"metadata path must start with '/': '{path}'", nameof(path));
        }
        if (path.Length == 1)
        {
            return;
        }
        if (path[^1] == '/')
        {
            throw new ArgumentException($"metadata path must not end with '/': '{path}'", nameof(path));
        }
        int segmentStart = 1;
        for (int i = 1; i <= path.Length; i++)
        {
            if (i < path.Length && path[i] == '\0')
            {
                throw new ArgumentException("metadata path contains NUL", nameof(path));
            }
            if (i == path.Length || path[i] == '/')
            {
                var segment = path.AsSpan(segmentStart, i - segmentStart);
                if (segment.Length == 0 || segment is "." || segment is "..")
                {
                    throw new ArgumentException($"metadata path has an empty or relative segment: '{path}'", nameof(path));
                }
                segmentStart = i + 1;
            }
        }
    }

    /// <summary>The parent of a non-root path ("/a/b" → "/a", "/a" → "/").</summary>
    public static string Parent(string path)
    {
        int slash = path.LastIndexOf('/');
        return slash <= 0 ? Root : path[..slash];
    }

    /// <summary>The last segment of a non-root path.</summary>
    public static string Name(string path) => path[(path.LastIndexOf('/') + 1)..];

    /// <summary>Joins a parent path and a child name.</summary>
    public static string Combine(string parent, string name) => parent == Root ? "/" + name : parent + "/" + name;
}
