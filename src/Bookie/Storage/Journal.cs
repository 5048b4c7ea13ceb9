using System.Buffers;
using System.Buffers.Binary;
using System.Collections.Concurrent;
using System.Diagnostics;
using System.Globalization;
using System.Threading.Channels;
using Microsoft.Extensions.Logging;
using Microsoft.Win32.SafeHandles;
using Pulsarish.Protocol.Checksums;

namespace Pulsarish.Bookie.Storage;

/// <summary>
/// The write-ahead journal (DESIGN.md §5): append-only files <c>&lt;hex id&gt;.journal</c> of records
/// <c>[length u32][crc32c u32][ledgerId i64][entryId i64][flags u8][payload]</c>, all integers big-endian,
/// <c>length</c> = bytes after the crc field, the crc covering exactly those bytes.
/// One writer thread drains a bounded queue, writes a group into one pooled buffer, fdatasyncs, and only then
/// completes every waiter of the group (group commit). The waiters of a group are completed by one thread-pool work
/// item, in order, their continuations running inline there: one hand-off per group instead of one per record, and
/// never a continuation on the writer thread. Thread-safe.
/// </summary>
public sealed class Journal : IAsyncDisposable
{
    /// <summary>Bytes of a record before its payload.</summary>
    public const int HeaderBytes = 4 + 4 + 8 + 8 + 1;

    private const string Extension = ".journal";

    private readonly StorageOptions _options;
    private readonly ILogger _logger;
    private readonly Channel<JournalRequest> _queue;
    private readonly ConcurrentQueue<JournalRequest> _pool = new();
    private readonly ConcurrentQueue<GroupCompletion> _freeCompletions = new();
    private readonly Thread _writer;
    private readonly object _positionLock = new();
    private readonly int _maxRecordBytes;
    private int _pooled;
    private int _queued;
    private long _fsyncCount;
    private long _recordsWritten;
    private long _bytesWritten;
    private volatile Exception? _failure;
    private volatile bool _abandoned;
    private SafeFileHandle _file;
    private long _fileId;
    private long _fileOffset;
    private long _fileAllocated;
    private long _syncTicksAverage;

    // Direct writes (StorageOptions.DirectWrites), decided with the first file: null when the file system refuses them.
    private bool _directRequested;
    private DirectAppender? _direct;
    private readonly Action<long> _preallocateTo;

    /// <summary>Opens the journal for writing, starting a fresh file after every existing one.</summary>
    public Journal(StorageOptions options, ILogger logger)
    {
        _preallocateTo = Preallocate;
        _options = options;
        _logger = logger;
        Directory.CreateDirectory(options.JournalDir);
        _maxRecordBytes = MaxRecordBytes(options);
        long[] existing = ListFileIds(options.JournalDir);
        _fileId = existing.Length == 0 ? 1 : existing[^1] + 1;
        _directRequested = options.DirectWrites;
        _file = CreateFile(_fileId);
        _queue = Channel.CreateBounded<JournalRequest>(new BoundedChannelOptions(options.JournalQueueCapacity)
        {
            SingleReader = true,
            SingleWriter = false,
            FullMode = BoundedChannelFullMode.Wait,
            AllowSynchronousContinuations = false,
        });
        _writer = new Thread(WriterLoop) { IsBackground = true, Name = "journal-writer" };
        _writer.Start();
    }

    /// <summary>Upper bound of one record's bytes under <paramref name="options"/> (sizes the writer's buffers).</summary>
    internal static int MaxRecordBytes(StorageOptions options) => HeaderBytes + 8 + Math.Max(options.MaxEntryBytes, 64 * 1024);

    /// <summary>
    /// Upper bound of the bytes of one group write under <paramref name="options"/>: the writer adds records while the
    /// group is below <see cref="StorageOptions.MaxGroupBytes"/>, each at most <see cref="MaxRecordBytes"/>. Only the
    /// last group of the last file can be torn by a crash, so replay finds no record of it this far past its start.
    /// </summary>
    internal static long MaxGroupWriteBytes(StorageOptions options) => (long)options.MaxGroupBytes + MaxRecordBytes(options);

    /// <summary>End of the last record written (not necessarily fsync'd yet).</summary>
    public JournalPosition WrittenPosition
    {
        get
        {
            lock (_positionLock)
            {
                return new JournalPosition(_fileId, _fileOffset);
            }
        }
    }

    /// <summary>Records waiting in the queue.</summary>
    public int QueueLength => Volatile.Read(ref _queued);

    /// <summary>fdatasync calls so far (one per group).</summary>
    public long FsyncCount => Interlocked.Read(ref _fsyncCount);

    /// <summary>Records written so far.</summary>
    public long RecordsWritten => Interlocked.Read(ref _recordsWritten);

    /// <summary>Bytes written so far.</summary>
    public long BytesWritten => Interlocked.Read(ref _bytesWritten);

    /// <summary>
    /// Appends a record; the task completes once it is durable. <paramref name="payload"/> is borrowed until then,
    /// so the caller must not reuse it before the task completes. <paramref name="ct"/> only cancels the wait for
    /// queue space: once queued, a record is written.
    /// </summary>
    public ValueTask AppendAsync(JournalRecordKind kind, long ledgerId, long entryId, long lac,
        ReadOnlyMemory<byte> payload, CancellationToken ct = default)
    {
        if (_failure is { } failure)
        {
            return ValueTask.FromException(new IOException("the journal has failed", failure));
        }
        if (ct.IsCancellationRequested)
        {
            return ValueTask.FromCanceled(ct);
        }
        JournalRequest request = RentRequest();
        request.Kind = kind;
        request.LedgerId = ledgerId;
        request.EntryId = entryId;
        request.Lac = lac;
        request.Payload = payload;
        Debug.Assert(request.RecordBytes <= _maxRecordBytes, "record larger than the configured maximum");
        ValueTask completion = request.AsValueTask();
        Interlocked.Increment(ref _queued);
        if (_queue.Writer.TryWrite(request))
        {
            return completion;
        }
        return EnqueueSlowAsync(request, completion, ct);
    }

    private async ValueTask EnqueueSlowAsync(JournalRequest request, ValueTask completion, CancellationToken ct)
    {
        try
        {
            await _queue.Writer.WriteAsync(request, ct).ConfigureAwait(false);
        }
        catch (Exception e)
        {
            Interlocked.Decrement(ref _queued);
            // Nothing awaits the completion yet, so no continuation runs on this thread.
            request.Fail(e is ChannelClosedException ? new ObjectDisposedException(nameof(Journal)) : e);
        }
        await completion.ConfigureAwait(false);
    }

    /// <summary>Deletes every journal file whose id is below <paramref name="fileId"/> (they precede the checkpoint).</summary>
    public int DeleteFilesBefore(long fileId)
    {
        int deleted = 0;
        foreach (long id in ListFileIds(_options.JournalDir))
        {
            if (id >= fileId || id >= Volatile.Read(ref _fileId))
            {
                break;
            }
            File.Delete(PathOf(_options.JournalDir, id));
            deleted++;
            _logger.LogDebug("Deleted journal file {JournalFileId:x} before checkpoint", id);
        }
        return deleted;
    }

    /// <summary>Test hook for crash simulation: stops writing and closes the file without completing anything queued.</summary>
    internal void Abandon()
    {
        _abandoned = true;
        _queue.Writer.TryComplete();
        _writer.Join();
        _file.Dispose();
    }

    public ValueTask DisposeAsync()
    {
        if (!_abandoned)
        {
            _queue.Writer.TryComplete();
            _writer.Join();
            if (_failure is null)
            {
                RandomAccess.SetLength(_file, _fileOffset);
            }
            _file.Dispose();
            _abandoned = true;
        }
        return ValueTask.CompletedTask;
    }

    internal void ReturnRequest(JournalRequest request)
    {
        if (Interlocked.Increment(ref _pooled) <= _options.JournalQueueCapacity)
        {
            _pool.Enqueue(request);
        }
        else
        {
            Interlocked.Decrement(ref _pooled);
        }
    }

    private JournalRequest RentRequest()
    {
        if (_pool.TryDequeue(out JournalRequest? request))
        {
            Interlocked.Decrement(ref _pooled);
            return request;
        }
        return new JournalRequest(this);
    }

    private GroupCompletion RentCompletion()
        => _freeCompletions.TryDequeue(out GroupCompletion? completion) ? completion : new GroupCompletion(this);

    private void WriterLoop()
    {
        GroupCompletion completion = RentCompletion();
        List<JournalRequest> group = completion.Requests;
        byte[] buffer = ArrayPool<byte>.Shared.Rent(_options.MaxGroupBytes + _maxRecordBytes);
        long maxGroupWaitTicks = (long)(_options.MaxGroupWait.TotalSeconds * Stopwatch.Frequency);
        ChannelReader<JournalRequest> reader = _queue.Reader;
        try
        {
            while (true)
            {
                if (!reader.TryRead(out JournalRequest? first))
                {
                    if (!WaitForRecords(reader, Timeout.InfiniteTimeSpan))
                    {
                        break;
                    }
                    continue;
                }
                if (_abandoned)
                {
                    group.Add(first);
                    Interlocked.Decrement(ref _queued);
                    break;
                }
                long groupStart = Stopwatch.GetTimestamp();
                int length = Encode(first, buffer, 0);
                group.Add(first);
                // Below MaxGroupBytes plus one record: replay relies on that bound (MaxGroupWriteBytes).
                while (length < _options.MaxGroupBytes)
                {
                    if (reader.TryRead(out JournalRequest? next))
                    {
                        if (length + next.RecordBytes > buffer.Length)
                        {
                            buffer = Grow(buffer, length, length + next.RecordBytes);
                        }
                        length += Encode(next, buffer, length);
                        group.Add(next);
                        continue;
                    }
                    // BK journalMaxGroupWaitMSec, capped by the recent fsync latency (waiting longer for company than
                    // a sync takes costs more than it saves). Waits below the timer resolution are not worth a sleep,
                    // and spinning would steal the core from the adders on small machines.
                    long waitTicks = Math.Min(maxGroupWaitTicks, _syncTicksAverage);
                    long remainingTicks = waitTicks - (Stopwatch.GetTimestamp() - groupStart);
                    if (remainingTicks < Stopwatch.Frequency / 1000
                        || !WaitForRecords(reader, TimeSpan.FromSeconds((double)remainingTicks / Stopwatch.Frequency)))
                    {
                        break;
                    }
                }
                completion.Failure = WriteGroup(group, buffer, length);
                ThreadPool.UnsafeQueueUserWorkItem(completion, preferLocal: false);
                completion = RentCompletion();
                group = completion.Requests;
                if (buffer.Length > 4 * (_options.MaxGroupBytes + _maxRecordBytes))
                {
                    ArrayPool<byte>.Shared.Return(buffer);
                    buffer = ArrayPool<byte>.Shared.Rent(_options.MaxGroupBytes + _maxRecordBytes);
                }
            }
        }
        finally
        {
            ArrayPool<byte>.Shared.Return(buffer);
            while (reader.TryRead(out JournalRequest? left))
            {
                Interlocked.Decrement(ref _queued);
                group.Add(left);
            }
            completion.Failure = new ObjectDisposedException(nameof(Journal));
            ThreadPool.UnsafeQueueUserWorkItem(completion, preferLocal: false);
        }
    }

    private static bool WaitForRecords(ChannelReader<JournalRequest> reader, TimeSpan timeout)
    {
        ValueTask<bool> wait = reader.WaitToReadAsync();
        if (wait.IsCompleted)
        {
            return wait.Result;
        }
        Task<bool> task = wait.AsTask();
        if (timeout == Timeout.InfiniteTimeSpan)
        {
            return task.GetAwaiter().GetResult();
        }
        return task.Wait(timeout) && task.Result;
    }

    private static byte[] Grow(byte[] buffer, int used, int needed)
    {
        byte[] bigger = ArrayPool<byte>.Shared.Rent(Math.Max(needed, buffer.Length * 2));
        buffer.AsSpan(0, used).CopyTo(bigger);
        ArrayPool<byte>.Shared.Return(buffer);
        return bigger;
    }

    private int Encode(JournalRequest request, byte[] buffer, int offset)
    {
        Interlocked.Decrement(ref _queued);
        int recordBytes = request.RecordBytes;
        Span<byte> record = buffer.AsSpan(offset, recordBytes);
        BinaryPrimitives.WriteUInt32BigEndian(record, (uint)(recordBytes - 8));
        BinaryPrimitives.WriteInt64BigEndian(record[8..], request.LedgerId);
        BinaryPrimitives.WriteInt64BigEndian(record[16..], request.EntryId);
        record[24] = (byte)request.Kind;
        Span<byte> payload = record[HeaderBytes..];
        if (request.Kind == JournalRecordKind.Entry)
        {
            BinaryPrimitives.WriteInt64BigEndian(payload, request.Lac);
            payload = payload[8..];
        }
        request.Payload.Span.CopyTo(payload);
        BinaryPrimitives.WriteUInt32BigEndian(record[4..], Crc32C.Compute(record[8..]));
        return recordBytes;
    }

    /// <summary>Writes and syncs one group; returns the failure its waiters get, null when it is durable.</summary>
    private Exception? WriteGroup(List<JournalRequest> group, byte[] buffer, int length)
    {
        try
        {
            if (_failure is { } failure)
            {
                throw new IOException("the journal has failed", failure);
            }
            if (_fileOffset > 0 && _fileOffset + length > _options.JournalMaxFileBytes)
            {
                Roll();
            }
            long syncStart = Stopwatch.GetTimestamp();
            if (_direct is not null)
            {
                _direct.Append(_file, buffer.AsSpan(0, length), _fileOffset, _preallocateTo);
            }
            else
            {
                if (_fileOffset + length > _fileAllocated)
                {
                    Preallocate(_fileOffset + length);
                    syncStart = Stopwatch.GetTimestamp();
                }
                RandomAccess.Write(_file, buffer.AsSpan(0, length), _fileOffset);
            }
            FileSync.DataSync(_file);
            long syncTicks = Stopwatch.GetTimestamp() - syncStart;
            _syncTicksAverage += (syncTicks - _syncTicksAverage) / 8;
            Interlocked.Increment(ref _fsyncCount);
            Interlocked.Add(ref _recordsWritten, group.Count);
            Interlocked.Add(ref _bytesWritten, length);
            lock (_positionLock)
            {
                _fileOffset += length;
            }
        }
        catch (Exception e)
        {
            if (_failure is null)
            {
                _logger.LogError(e, "Journal write failed at {JournalPosition}; the journal refuses further appends", WrittenPosition);
                _failure = e;
            }
            return e;
        }
        return null;
    }

    /// <summary>
    /// Completes the waiters of one written group from the thread pool, in queue order (pooled: one per group in
    /// flight). A continuation that throws is logged and does not keep the others from completing.
    /// </summary>
    private sealed class GroupCompletion : IThreadPoolWorkItem
    {
        private readonly Journal _owner;

        public GroupCompletion(Journal owner) => _owner = owner;

        public List<JournalRequest> Requests { get; } = new(1024);

        public Exception? Failure { get; set; }

        public void Execute()
        {
            Exception? failure = Failure;
            foreach (JournalRequest request in Requests)
            {
                try
                {
                    if (failure is null)
                    {
                        request.Complete();
                    }
                    else
                    {
                        request.Fail(failure);
                    }
                }
                catch (Exception e)
                {
                    _owner._logger.LogError(e, "A journal waiter's continuation failed");
                }
            }
            Requests.Clear();
            Failure = null;
            _owner._freeCompletions.Enqueue(this);
        }
    }

    private void Roll()
    {
        long nextId = _fileId + 1;
        SafeFileHandle next = CreateFile(nextId);
        SafeFileHandle previous = _file;
        // Give back the preallocated zeros past the data (replay would stop at them anyway).
        RandomAccess.SetLength(previous, _fileOffset);
        lock (_positionLock)
        {
            _file = next;
            _fileId = nextId;
            _fileOffset = 0;
        }
        _fileAllocated = 0;
        previous.Dispose();
        _logger.LogDebug("Rolled journal to file {JournalFileId:x}", nextId);
    }

    /// <summary>
    /// Zero-fills the file ahead of the writes (BK journalPreAllocSizeMB): fdatasync of an overwrite inside the file
    /// needs no size update, which on ext4 roughly doubles the syncs per second. Replay stops at the zeros.
    /// </summary>
    private void Preallocate(long needed)
    {
        long chunk = _options.JournalPreallocateBytes;
        if (chunk == 0)
        {
            return;
        }
        if (_direct is not null)
        {
            chunk = DirectAppender.RoundUp(chunk);
        }
        long target = _fileAllocated;
        while (target < needed)
        {
            target += chunk;
        }
        // Direct writes need an aligned source; the fill then bypasses the page cache too.
        ReadOnlySpan<byte> zeros = _direct is not null ? DirectAppender.Zeros : ZeroBlock;
        for (long at = Math.Max(_fileAllocated, _fileOffset); at < target; at += zeros.Length)
        {
            RandomAccess.Write(_file, zeros[..(int)Math.Min(zeros.Length, target - at)], at);
        }
        _fileAllocated = target;
    }

    private static ReadOnlySpan<byte> ZeroBlock => s_zeroBlock;

    private static readonly byte[] s_zeroBlock = new byte[256 * 1024];

    private SafeFileHandle CreateFile(long id)
    {
        string path = PathOf(_options.JournalDir, id);
        SafeFileHandle handle = File.OpenHandle(path, FileMode.CreateNew, FileAccess.ReadWrite, FileShare.Read);
        FileSync.SyncDirectory(_options.JournalDir);
        if (_directRequested && FileSync.TryOpenDirect(path, out SafeFileHandle? direct))
        {
            handle.Dispose();
            handle = direct;
            if (_direct is null)
            {
                _direct = new DirectAppender(_options.MaxGroupBytes + _maxRecordBytes);
                _logger.LogDebug("Journal writes with O_DIRECT in {JournalDir}", _options.JournalDir);
            }
            _direct.Restart();
        }
        else if (_direct is null)
        {
            // Decided once, with the first file: the directory's file system refuses O_DIRECT.
            _directRequested = false;
        }
        else
        {
            // The first file took O_DIRECT, so the directory's file system does; refusing it now is an I/O fault.
            handle.Dispose();
            throw new IOException($"journal file {path} could not be reopened for direct writes");
        }
        return handle;
    }

    /// <summary>Whether the journal writes with O_DIRECT (test hook).</summary>
    internal bool DirectWrites => _direct is not null;

    internal static string PathOf(string dir, long id) => Path.Combine(dir, id.ToString("x", CultureInfo.InvariantCulture) + Extension);

    internal static long[] ListFileIds(string dir)
    {
        if (!Directory.Exists(dir))
        {
            return [];
        }
        var ids = new List<long>();
        foreach (string path in Directory.EnumerateFiles(dir, "*" + Extension))
        {
            if (long.TryParse(Path.GetFileNameWithoutExtension(path), NumberStyles.HexNumber, CultureInfo.InvariantCulture, out long id))
            {
                ids.Add(id);
            }
        }
        ids.Sort();
        return ids.ToArray();
    }
}
