using System.Text;
using HdrHistogram;

namespace Pulsarish.Cli;

/// <summary>
/// An HdrHistogram interval log file (format 1.3: header, then one compressed histogram per interval) written with
/// the HdrHistogram package's <see cref="HistogramLogWriter"/>. That writer emits UTF-16; the file is kept in
/// UTF-8 (ASCII), what HdrHistogram's log readers and plotters in other languages expect. Not thread-safe.
/// </summary>
internal sealed class HistogramIntervalLog : IDisposable
{
    private readonly FileStream _file;

    public HistogramIntervalLog(string path, DateTime startTime)
    {
        _file = new FileStream(path, FileMode.Create, FileAccess.Write, FileShare.Read);
        Write(writer => writer.Write(startTime));
    }

    /// <summary>Appends one interval; <see cref="HistogramBase.StartTimeStamp"/> and <see cref="HistogramBase.EndTimeStamp"/> (ms since the epoch) bound it.</summary>
    public void Append(HistogramBase histogram) => Write(writer => writer.Append(histogram));

    public void Dispose() => _file.Dispose();

    private void Write(Action<HistogramLogWriter> write)
    {
        using var buffer = new MemoryStream();
        using (var writer = new HistogramLogWriter(buffer))
        {
            write(writer);
        }

        // ToArray works after the writer closed the buffer.
        string text = Encoding.Unicode.GetString(buffer.ToArray()).TrimStart('\uFEFF');
        _file.Write(Encoding.UTF8.GetBytes(text));
        _file.Flush();
    }
}
