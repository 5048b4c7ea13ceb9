using System.Diagnostics;
using System.Runtime.InteropServices;

namespace Pulsarish.Broker.Dispatch;

/// <summary>
/// A sealed, time-sorted run of <see cref="DelayedIndexEntry"/> records spilled by the
/// <see cref="DelayedDeliveryTracker"/> to a local file (Pulsar's sealed bucket snapshot): only its next segment (the
/// earliest-due entries not yet taken) is in memory. The file is unlinked as soon as it is created, so it lives only as
/// long as its handle: nothing is left behind by a crash, and the index is rebuilt from the topic's log by the next
/// owner anyway. Not thread-safe.
/// </summary>
internal sealed class DelayedSpillRun : IDisposable
{
    private readonly FileStream _file;
    private readonly DelayedIndexEntry[] _segment;
    private int _position;
    private int _length;
    private long _remainingInFile;

    private DelayedSpillRun(FileStream file, long entries, int segmentEntries)
    {
        _file = file;
        _remainingInFile = entries;
        _segment = new DelayedIndexEntry[(int)Math.Max(1, Math.Min(segmentEntries, entries))];
        Count = entries;
        LoadSegment();
    }

    /// <summary>Entries not yet taken.</summary>
    public long Count { get; private set; }

    /// <summary>Bytes of the in-memory segment.</summary>
    public long AllocatedBytes => (long)_segment.Length * DelayedIndexEntry.Size;

    public bool IsEmpty => Count == 0;

    /// <summary>The earliest-due entry not yet taken.</summary>
    public DelayedIndexEntry Head
    {
        get
        {
            Debug.Assert(_position < _length);
            return _segment[_position];
        }
    }

    /// <summary>Writes <paramref name="sorted"/> (ascending) to a new file in <paramref name="directory"/>.</summary>
    public static DelayedSpillRun Write(string directory, ReadOnlySpan<DelayedIndexEntry> sorted, int segmentEntries)
    {
        var file = CreateUnlinked(directory);
        try
        {
            file.Write(MemoryMarshal.AsBytes(sorted));
            file.Flush();
            file.Position = 0;
            return new DelayedSpillRun(file, sorted.Length, segmentEntries);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Merges <paramref name="runs"/> (each consumed and disposed) into one new run: bounds their number.</summary>
    public static DelayedSpillRun Merge(string directory, List<DelayedSpillRun> runs, int segmentEntries)
    {
        var file = CreateUnlinked(directory);
        try
        {
            long total = 0;
            var output = new DelayedIndexEntry[Math.Max(1, segmentEntries)];
            int buffered = 0;
            while (true)
            {
                int best = -1;
                for (int i = 0; i < runs.Count; i++)
                {
                    if (!runs[i].IsEmpty && (best < 0 || runs[i].Head.CompareTo(runs[best].Head) < 0))
                    {
                        best = i;
                    }
                }
                if (best < 0)
                {
                    break;
                }
                output[buffered++] = runs[best].Take();
                total++;
                if (buffered == output.Length)
                {
                    file.Write(MemoryMarshal.AsBytes(output.AsSpan()));
                    buffered = 0;
                }
            }
            file.Write(MemoryMarshal.AsBytes(output.AsSpan(0, buffered)));
            file.Flush();
            file.Position = 0;
            foreach (var run in runs)
            {
                run.Dispose();
            }
            return new DelayedSpillRun(file, total, segmentEntries);
        }
        catch
        {
            file.Dispose();
            throw;
        }
    }

    /// <summary>Takes the head; loads the next segment from the file when the loaded one is used up.</summary>
    public DelayedIndexEntry Take()
    {
        var head = Head;
        _position++;
        Count--;
        if (_position == _length && _remainingInFile > 0)
        {
            LoadSegment();
        }
        return head;
    }

    private void LoadSegment()
    {
        int n = (int)Math.Min(_segment.Length, _remainingInFile);
        var bytes = MemoryMarshal.AsBytes(_segment.AsSpan(0, n));
        _file.ReadExactly(bytes);
        _remainingInFile -= n;
        _position = 0;
        _length = n;
    }

    private static FileStream CreateUnlinked(string directory)
    {
        Directory.CreateDirectory(directory);
        string path = Path.Combine(directory, $"delayed-{Guid.NewGuid():N}.run");
        // Unbuffered: reads and writes are whole segments, and no hidden buffer adds to the tracker's memory.
        var file = new FileStream(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Delete, bufferSize: 0);
        try
        {
            // The open handle keeps the data; the name goes at once, so a crash leaves nothing behind (POSIX unlink).
            File.Delete(path);
        }
        catch (IOException)
        {
        }
        return file;
    }

    public void Dispose() => _file.Dispose();
}
