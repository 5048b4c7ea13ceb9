using System.Collections.Concurrent;
using Microsoft.Extensions.Logging;
using Pulsarish.Metadata;

namespace Pulsarish.Bookie.AutoRecovery;

/// <summary>
/// One per AutoRecovery process (BookKeeper's ReplicationWorker): watches the task list, takes a task's ephemeral
/// lock (skipping tasks locked by another worker), re-replicates the ledger with a <see cref="LedgerReplicator"/>, and
/// deletes the task only when the ledger is fully replicated; otherwise it releases the lock, leaves the task, and
/// does not retry it for <see cref="AutoRecoveryOptions.FailedLedgerRetryDelay"/>. At most
/// <see cref="AutoRecoveryOptions.MaxConcurrentLedgers"/> ledgers at a time.
/// </summary>
public sealed class ReplicationWorker : IAsyncDisposable
{
    private readonly IMetadataStore _store;
    private readonly UnderReplicationManager _tasks;
    private readonly LedgerReplicator _replicator;
    private readonly AutoRecoveryOptions _options;
    private readonly AutoRecoveryMetrics _metrics;
    private readonly ILogger _logger;
    private readonly string _workerId;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly SemaphoreSlim _slots;
    private readonly ConcurrentDictionary<long, byte> _running = new();
    private readonly ConcurrentDictionary<long, DateTime> _retryAfterUtc = new();
    private readonly CancellationTokenSource _stop = new();
    private readonly IDisposable _listener;
    private Task? _loop;

    public ReplicationWorker(IMetadataStore store, UnderReplicationManager tasks, LedgerReplicator replicator,
        AutoRecoveryOptions options, AutoRecoveryMetrics metrics, string workerId, ILogger<ReplicationWorker> logger)
    {
        _store = store;
        _tasks = tasks;
        _replicator = replicator;
        _options = options;
        _metrics = metrics;
        _workerId = workerId;
        _logger = logger;
        _slots = new SemaphoreSlim(options.MaxConcurrentLedgers, options.MaxConcurrentLedgers);
        _listener = store.RegisterListener(OnNotification);
        store.SessionEventRaised += OnSessionEvent;
    }

    /// <summary>Ledgers this worker completed (diagnostics and tests).</summary>
    public long CompletedLedgers => Interlocked.Read(ref _completed);

    private long _completed;

    /// <summary>Times a task was skipped because another worker held its lock (diagnostics and tests).</summary>
    public long LockedByOthers => Interlocked.Read(ref _lockedByOthers);

    private long _lockedByOthers;

    public void Start() => _loop ??= Task.Run(() => RunAsync(_stop.Token));

    private void OnNotification(Notification n)
    {
        if (n.Path == MetadataPaths.UnderReplicatedLedgers || n.Path == MetadataPaths.UnderReplicationLocks)
        {
            Wake();
        }
    }

    private void OnSessionEvent(SessionEvent e) => Wake();

    private void Wake()
    {
        try
        {
            if (_wake.CurrentCount == 0)
            {
                _wake.Release();
            }
        }
        catch (SemaphoreFullException)
        {
            // Already signalled.
        }
    }

    private async Task RunAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                var ids = await _tasks.ListAsync(ct).ConfigureAwait(false);
                _metrics.PendingTasks.Set(ids.Count);
                // Children of the lock parent are watched too, so a released lock wakes the other workers.
                await _store.GetChildrenAsync(MetadataPaths.UnderReplicationLocks, ct).ConfigureAwait(false);
                var order = ids.ToArray();
                Random.Shared.Shuffle(order); // workers of several processes spread over the tasks
                foreach (long ledgerId in order)
                {
                    if (_running.ContainsKey(ledgerId)
                        || (_retryAfterUtc.TryGetValue(ledgerId, out var after) && DateTime.UtcNow < after))
                    {
                        continue;
                    }
                    if (!await _slots.WaitAsync(0, ct).ConfigureAwait(false))
                    {
                        break;
                    }
                    _running[ledgerId] = 0;
                    _ = ProcessAsync(ledgerId, ct);
                }
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                _logger.LogWarning(e, "Listing re-replication tasks failed");
            }
            try
            {
                await _wake.WaitAsync(NextPoll(), ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                break;
            }
        }
    }

    private TimeSpan NextPoll()
    {
        var wait = _options.TaskPollInterval;
        var now = DateTime.UtcNow;
        foreach (var after in _retryAfterUtc.Values)
        {
            var left = after - now;
            if (left > TimeSpan.Zero && left < wait)
            {
                wait = left;
            }
        }
        return wait;
    }

    private async Task ProcessAsync(long ledgerId, CancellationToken ct)
    {
        await Task.Yield();
        bool done = false;
        bool locked = false;
        try
        {
            locked = await _tasks.TryLockAsync(ledgerId, _workerId, ct).ConfigureAwait(false);
            if (!locked)
            {
                Interlocked.Increment(ref _lockedByOthers);
                return; // another worker has it
            }
            var task = await _tasks.GetAsync(ledgerId, ct).ConfigureAwait(false);
            if (task is null)
            {
                done = true; // completed by another worker meanwhile
                return;
            }
            _logger.LogInformation("Worker {Worker} re-replicating ledger {LedgerId} (lost {Bookies})",
                _workerId, ledgerId, string.Join(",", task.MissingBookies));
            bool replicated = await _replicator.ReplicateAsync(ledgerId, task.MissingBookies,
                DateTimeOffset.FromUnixTimeMilliseconds(task.CreatedMillis), ct).ConfigureAwait(false);
            // The task goes only when every fragment is replicated and nobody extended it meanwhile.
            if (replicated && await _tasks.MarkReplicatedAsync(ledgerId, task.Version, ct).ConfigureAwait(false))
            {
                done = true;
                Interlocked.Increment(ref _completed);
                _metrics.ReplicatedLedgers.Inc();
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            done = true;
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "Re-replication of ledger {LedgerId} failed", ledgerId);
        }
        finally
        {
            if (locked)
            {
                try
                {
                    await _tasks.ReleaseLockAsync(ledgerId, CancellationToken.None).ConfigureAwait(false);
                }
                catch (Exception e)
                {
                    _logger.LogWarning(e, "Releasing the lock of ledger {LedgerId} failed", ledgerId);
                }
            }
            if (!done && locked)
            {
                _metrics.FailedLedgers.Inc();
                _retryAfterUtc[ledgerId] = DateTime.UtcNow + _options.FailedLedgerRetryDelay;
            }
            else
            {
                _retryAfterUtc.TryRemove(ledgerId, out _);
            }
            _running.TryRemove(ledgerId, out _);
            _slots.Release();
            Wake();
        }
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        _listener.Dispose();
        _store.SessionEventRaised -= OnSessionEvent;
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }
        // Every running ledger holds a slot: taking them all waits for the last one to finish.
        for (int i = 0; i < _options.MaxConcurrentLedgers; i++)
        {
            await _slots.WaitAsync().ConfigureAwait(false);
        }
        _stop.Dispose();
    }
}
