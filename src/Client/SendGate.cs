using Pulsarish.Protocol.Broker;

namespace Pulsarish.Client;

/// <summary>
/// The pending-message limit of a producer (back-pressure) that keeps send order: a send either takes a permit at
/// once, or waits in a FIFO queue and is handed to its partition producer when a receipt frees a permit — so
/// messages enter their batches in the order <c>SendAsync</c> was called (a <see cref="SemaphoreSlim"/> would wake
/// waiters in thread-pool order). Thread-safe; partition producers call <see cref="Release"/> outside their locks.
/// </summary>
internal sealed class SendGate
{
    private readonly object _lock = new();
    private readonly Queue<Waiter> _waiters = new();
    private int _available;

    public SendGate(int permits) => _available = permits;

    /// <summary>Hands <paramref name="message"/> to <paramref name="target"/> now or, in FIFO order, once a permit frees.</summary>
    public Task<MessageId> SendAsync(PartitionProducer target, ProducerMessage message, CancellationToken ct)
    {
        ct.ThrowIfCancellationRequested();
        Waiter waiter;
        lock (_lock)
        {
            if (_waiters.Count == 0 && _available > 0)
            {
                _available--;
                return target.Enqueue(message);
            }

            waiter = new Waiter(target, message);
            _waiters.Enqueue(waiter);
        }

        if (ct.CanBeCanceled)
        {
            waiter.Registration = ct.Register(static w => ((Waiter)w!).Cancel(), waiter);
        }

        return waiter.Result.Task;
    }

    /// <summary>Returns <paramref name="permits"/> permits and hands them to waiting sends in order.</summary>
    public void Release(int permits = 1)
    {
        List<(Waiter Waiter, Task<MessageId> Sent)>? started = null;
        lock (_lock)
        {
            _available += permits;
            while (_available > 0 && _waiters.TryDequeue(out var waiter))
            {
                if (!waiter.TryStart())
                {
                    continue; // cancelled while waiting
                }

                _available--;
                (started ??= new()).Add((waiter, waiter.Target.Enqueue(waiter.Message)));
            }
        }

        if (started is null)
        {
            return;
        }

        foreach (var (waiter, sent) in started)
        {
            waiter.Registration.Dispose();
            sent.ContinueWith(static (t, w) => ((Waiter)w!).Complete(t), waiter, CancellationToken.None,
                TaskContinuationOptions.ExecuteSynchronously, TaskScheduler.Default);
        }
    }

    /// <summary>
    /// Fails every send still waiting for a permit to <paramref name="target"/> (a send timeout fails everything sent
    /// before it, so none of them can be stored ahead of the application's retry of a timed-out one).
    /// </summary>
    public void FailWaiting(PartitionProducer target, Exception error)
    {
        List<Waiter>? failed = null;
        lock (_lock)
        {
            foreach (var waiter in _waiters)
            {
                if (ReferenceEquals(waiter.Target, target) && waiter.TryAbandon())
                {
                    (failed ??= new()).Add(waiter);
                }
            }
        }

        foreach (var waiter in failed ?? [])
        {
            waiter.Registration.Dispose();
            waiter.Result.TrySetException(error);
        }
    }

    private sealed class Waiter(PartitionProducer target, ProducerMessage message)
    {
        private const int Waiting = 0;
        private const int Started = 1;
        private const int Cancelled = 2;
        private int _state;

        public PartitionProducer Target { get; } = target;
        public ProducerMessage Message { get; } = message;
        public TaskCompletionSource<MessageId> Result { get; } = new(TaskCreationOptions.RunContinuationsAsynchronously);
        public CancellationTokenRegistration Registration { get; set; }

        public bool TryStart() => Interlocked.CompareExchange(ref _state, Started, Waiting) == Waiting;

        /// <summary>Gives up waiting (skipped by <see cref="Release"/>, like a cancelled one); the caller fails it.</summary>
        public bool TryAbandon() => Interlocked.CompareExchange(ref _state, Cancelled, Waiting) == Waiting;

        public void Cancel()
        {
            if (Interlocked.CompareExchange(ref _state, Cancelled, Waiting) == Waiting)
            {
                Result.TrySetCanceled();
            }
        }

        public void Complete(Task<MessageId> sent)
        {
            if (sent.IsCompletedSuccessfully)
            {
                Result.TrySetResult(sent.Result);
            }
            else if (sent.Exception is { } e)
            {
                Result.TrySetException(e.InnerExceptions);
            }
            else
            {
                Result.TrySetCanceled();
            }
        }
    }
}
