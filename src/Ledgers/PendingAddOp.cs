using System.Diagnostics;

namespace Pulsarish.Ledgers;

/// <summary>
/// One add in a <see cref="LedgerHandle"/>'s pipeline (BookKeeper's PendingAddOp). Mutated only under the handle's
/// lock; completed exactly once by the handle's in-order delivery. Bit i of the masks is write-set position i.
/// </summary>
internal sealed class PendingAddOp
{
    private readonly TaskCompletionSource<long>? _task;
    private readonly AddCompletion? _callback;
    private readonly object? _callbackState;

    public PendingAddOp(int writeQuorum, TaskCompletionSource<long>? task, AddCompletion? callback, object? callbackState)
    {
        Debug.Assert((task is null) != (callback is null));
        Targets = new string[writeQuorum];
        SentTimestamps = new long[writeQuorum];
        _task = task;
        _callback = callback;
        _callbackState = callbackState;
        StartTimestamp = Stopwatch.GetTimestamp();
        EntryId = -1;
    }

    public long EntryId;
    /// <summary>Header + payload as stored on bookies (<see cref="LedgerEntryFormat"/>).</summary>
    public byte[] Stored = [];
    /// <summary>Ledger length after this entry.</summary>
    public long LedgerLength;
    /// <summary>LAC piggy-backed with this entry; fixed at first send so every copy is identical.</summary>
    public long Lac;
    public uint Digest;
    /// <summary>Bookie each write-set position was last sent to.</summary>
    public readonly string[] Targets;
    public readonly long[] SentTimestamps;
    public ulong AckMask;
    public ulong FencedMask;
    public readonly long StartTimestamp;
    /// <summary>Set once the op left the pipeline (succeeded or failed); later answers are ignored.</summary>
    public bool Done;
    public Exception? Error;

    public Task<long> Task => _task!.Task;

    /// <summary>Write-set position currently targeting <paramref name="bookieId"/>, or -1 (a stale answer).</summary>
    public int PositionOf(string bookieId)
    {
        var targets = Targets;
        for (int i = 0; i < targets.Length; i++)
        {
            if (string.Equals(targets[i], bookieId, StringComparison.Ordinal))
            {
                return i;
            }
        }
        return -1;
    }

    /// <summary>Delivers the outcome to the caller. Called by the handle's single delivery loop, in entry order.</summary>
    public void Deliver()
    {
        if (Error is null)
        {
            LedgerMetrics.Adds.Inc();
            LedgerMetrics.AddLatencySeconds.Observe(Stopwatch.GetElapsedTime(StartTimestamp).TotalSeconds);
        }
        else
        {
            LedgerMetrics.AddErrors.Inc();
        }
        if (_task is not null)
        {
            if (Error is null)
            {
                _task.TrySetResult(EntryId);
            }
            else
            {
                _task.TrySetException(Error);
            }
        }
        else
        {
            _callback!(EntryId, Error, _callbackState);
        }
    }
}
