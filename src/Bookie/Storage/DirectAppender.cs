using System.Runtime.InteropServices;
using Microsoft.Win32.SafeHandles;

namespace Pulsarish.Bookie.Storage;

/// <summary>
/// Appends to a file opened with O_DIRECT (<see cref="FileSync.TryOpenDirect"/>), so appended bytes are never
/// copied into the page cache. O_DIRECT moves whole pages from aligned memory at aligned offsets: each append
/// goes out as the file's partial last page (kept here from the previous append), then the new bytes, then zeros
/// up to the page end, in one write at the page-aligned offset. Rewriting the partial page writes its durable bytes
/// unchanged, so a torn write cannot damage what an earlier sync made durable; the zeros after the data read as
/// "no more records" to the journal replay and are cut off when an entry log is sealed. One writer at a time.
/// </summary>
internal sealed class DirectAppender
{
    /// <summary>Alignment of offsets, lengths and memory (the page size; a multiple of every block size in use).</summary>
    public const int PageBytes = 4096;

    private static readonly AlignedBuffer s_zeros = new(256 * 1024);

    private AlignedBuffer _staging;
    private int _tail;

    public DirectAppender(int capacity) => _staging = new AlignedBuffer(RoundUp(capacity) + PageBytes);

    /// <summary>Aligned zeros, for zero-filling a file ahead of its appends.</summary>
    public static ReadOnlySpan<byte> Zeros => s_zeros.Span;

    public static long RoundUp(long bytes) => (bytes + PageBytes - 1) / PageBytes * PageBytes;

    private static int RoundUp(int bytes) => (bytes + PageBytes - 1) / PageBytes * PageBytes;

    /// <summary>
    /// Writes <paramref name="data"/> at <paramref name="fileOffset"/>, the end of the file's data so far (the sum of
    /// every earlier append). <paramref name="beforeWrite"/> gets the file length the write will reach (whole pages)
    /// before it is issued, e.g. to zero-fill ahead.
    /// </summary>
    public void Append(SafeFileHandle handle, ReadOnlySpan<byte> data, long fileOffset, Action<long>? beforeWrite = null)
    {
        if (fileOffset % PageBytes != _tail)
        {
            throw new InvalidOperationException($"append at {fileOffset} does not follow the last one (partial page of {_tail} bytes)");
        }

        int used = _tail + data.Length;
        int padded = RoundUp(used);
        if (padded > _staging.Length)
        {
            var bigger = new AlignedBuffer(padded);
            _staging.Span[.._tail].CopyTo(bigger.Span);
            _staging = bigger;
        }

        Span<byte> staging = _staging.Span;
        data.CopyTo(staging[_tail..]);
        staging[used..padded].Clear();
        long at = fileOffset - _tail;
        beforeWrite?.Invoke(at + padded);
        RandomAccess.Write(handle, staging[..padded], at);
        int newTail = used % PageBytes;
        staging.Slice(used - newTail, newTail).CopyTo(staging);
        _tail = newTail;
    }

    /// <summary>The next append goes to a new, empty file.</summary>
    public void Restart() => _tail = 0;

    /// <summary>A pinned array with a page-aligned slice (the pinned object heap never moves it).</summary>
    private readonly struct AlignedBuffer
    {
        private readonly byte[] _array;
        private readonly int _start;

        public AlignedBuffer(int length)
        {
            _array = GC.AllocateArray<byte>(length + PageBytes, pinned: true);
            nint address = Marshal.UnsafeAddrOfPinnedArrayElement(_array, 0);
            _start = (int)((PageBytes - (address & (PageBytes - 1))) & (PageBytes - 1));
            Length = length;
        }

        public int Length { get; }

        public Span<byte> Span => _array.AsSpan(_start, Length);
    }
}
