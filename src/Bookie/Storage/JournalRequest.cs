using System.Threading.Tasks.Sources;

namespace Pulsarish.Bookie.Storage;

/// <summary>
/// One pending journal append and its completion, pooled by <see cref="Journal"/> so the add path allocates no
/// task per entry. The <see cref="ValueTask"/> handed out must be awaited exactly once; awaiting it returns the
/// object to the pool.
/// </summary>
internal sealed class JournalRequest : IValueTaskSource
{
    private readonly Journal _owner;
    private ManualResetValueTaskSourceCore<bool> _core;

    public JournalRequest(Journal owner)
    {
        _owner = owner;
        // The journal completes requests from a thread-pool work item, one per group, never on its writer thread:
        // continuations run inline there (see Journal.GroupCompletion).
        _core.RunContinuationsAsynchronously = false;
    }

    public JournalRecordKind Kind;
    public long LedgerId;
    public long EntryId;
    public long Lac;

    /// <summary>Borrowed from the caller, who keeps it alive until the append completes.</summary>
    public ReadOnlyMemory<byte> Payload;

    /// <summary>Bytes this record occupies in the journal.</summary>
    public int RecordBytes => Journal.HeaderBytes + (Kind == JournalRecordKind.Entry ? 8 : 0) + Payload.Length;

    public ValueTask AsValueTask() => new(this, _core.Version);

    public void Complete() => _core.SetResult(true);

    public void Fail(Exception error) => _core.SetException(error);

    void IValueTaskSource.GetResult(short token)
    {
        try
        {
            _core.GetResult(token);
        }
        finally
        {
            _core.Reset();
            Payload = default;
            _owner.ReturnRequest(this);
        }
    }

    ValueTaskSourceStatus IValueTaskSource.GetStatus(short token) => _core.GetStatus(token);

    void IValueTaskSource.OnCompleted(Action<object?> continuation, object? state, short token,
        ValueTaskSourceOnCompletedFlags flags) => _core.OnCompleted(continuation, state, token, flags);
}
