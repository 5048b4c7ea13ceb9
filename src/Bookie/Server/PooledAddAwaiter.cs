using System.Runtime.CompilerServices;

namespace Pulsarish.Bookie.Server;

/// <summary>
/// Waits for one storage add and reports its outcome to <see cref="Completed"/>; meant to be pooled and reused
/// across adds: its continuation is a cached delegate, so waiting for the journal allocates no state machine per
/// entry. Shared by the gRPC add streams and the in-process bookie.
/// </summary>
internal abstract class PooledAddAwaiter
{
    private readonly Action _onCompleted;
    private ConfiguredValueTaskAwaitable.ConfiguredValueTaskAwaiter _awaiter;

    protected PooledAddAwaiter() => _onCompleted = OnCompleted;

    /// <summary>Awaits <paramref name="add"/>; <see cref="Completed"/> runs once, possibly before this returns.</summary>
    public void Start(ValueTask add)
    {
        var awaiter = add.ConfigureAwait(false).GetAwaiter();
        if (awaiter.IsCompleted)
        {
            Finish(awaiter);
            return;
        }

        _awaiter = awaiter;
        awaiter.UnsafeOnCompleted(_onCompleted);
    }

    /// <summary>The add finished: <paramref name="failure"/> is null when the entry is durable.</summary>
    protected abstract void Completed(Exception? failure);

    private void OnCompleted()
    {
        var awaiter = _awaiter;
        _awaiter = default;
        Finish(awaiter);
    }

    private void Finish(ConfiguredValueTaskAwaitable.ConfiguredValueTaskAwaiter awaiter)
    {
        Exception? failure = null;
        try
        {
            awaiter.GetResult();
        }
        catch (Exception ex)
        {
            failure = ex;
        }

        Completed(failure);
    }
}
