namespace Pulsarish.Metadata.ZooKeeper;

/// <summary>ZooKeeper path rules (PathUtils.validatePath), checked before a request is sent.</summary>
internal static class PathValidation
{
    public static void Validate(string path, bool sequential)
    {
        ArgumentNullException.ThrowIfNull(path);
        if (path.Length == 0 || path[0] != '/') throw new ArgumentException($"path '{path}' must start with '/'");
        if (path.Length == 1) return;
        // A sequential create may name only the parent ("/parent/"): the server appends the counter.
        if (path[^1] == '/' && !sequential) throw new ArgumentException($"path '{path}' must not end with '/'");
        var segments = path.AsSpan(1);
        if (sequential && segments.Length > 0 && segments[^1] == '/') segments = segments[..^1];
        foreach (var range in segments.Split('/'))
        {
            var segment = segments[range];
            if (segment.Length == 0) throw new ArgumentException($"empty segment in path '{path}'");
            if (segment is "." or "..") throw new ArgumentException($"relative segment in path '{path}'");
            foreach (char c in segment)
            {
                if (c == '\0' || (c > '\u0000' && c <= '\u001f') || (c >= '\u007f' && c <= '\u009f') ||
                    (c >= '\ud800' && c <= '\uf8ff') || (c >= '\ufff0' && c <= '\uffff'))
                    throw new ArgumentException($"invalid character U+{(int)c:X4} in path '{path}'");
            }
        }
    }
}
