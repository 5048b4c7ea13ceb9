namespace Pulsarish.Hosting.Supervisor;

/// <summary>A child's log: lines appended, rotated to <c>.1</c> beyond a size bound. Thread-safe.</summary>
internal sealed class RotatingLogFile : IDisposable
{
    private readonly string _path;
    private readonly long _maxBytes;
    private readonly object _lock = new();
    private StreamWriter _writer;

    public RotatingLogFile(string path, long maxBytes)
    {
        _path = path;
        _maxBytes = maxBytes;
        _writer = Open();
    }

    public string Path => _path;

    public void WriteLine(string line)
    {
        lock (_lock)
        {
            _writer.WriteLine(line);
            if (_writer.BaseStream.Length < _maxBytes) return;
            _writer.Dispose();
            File.Move(_path, _path + ".1", overwrite: true);
            _writer = Open();
        }
    }

    public void Dispose()
    {
        lock (_lock) _writer.Dispose();
    }

    private StreamWriter Open() =>
        new(new FileStream(_path, FileMode.Append, FileAccess.Write, FileShare.Read)) { AutoFlush = true };
}
