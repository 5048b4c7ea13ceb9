using Microsoft.Extensions.Logging;

namespace Pulsarish.Metadata;

/// <summary>
/// A persistent watch built from the store's one-shot watches. Each round re-arms with a read, then calls the
/// callback; a round runs once when the watch is first armed (so a change between the caller's own read and the
/// arming is never missed), on every matching notification, and after a reconnect or a new session. Rounds run
/// one at a time on the thread pool; triggers arriving during a round are coalesced into one more round.
/// </summary>
internal sealed class RearmingWatch : IDisposable
{
    private readonly IMetadataStore _store;
    private readonly Func<Notification, bool> _matches;
    private readonly Func<IMetadataStore, Task> _arm;
    private readonly Action _changed;
    private readonly ILogger _logger;
    private readonly IDisposable _registration;
    private int _pending;
    private int _running;
    private int _disposed;

    public RearmingWatch(
        IMetadataStore store, Func<Notification, bool> matches, Func<IMetadataStore, Task> arm, Action changed, ILogger logger)
    {
        _store = store;
        _matches = matches;
        _arm = arm;
        _changed = changed;
        _logger = logger;
        _registration = store.RegisterListener(OnNotification);
        store.SessionEventRaised += OnSessionEvent;
        Trigger();
    }

    private void OnNotification(Notification n)
    {
        if (_matches(n))
        {
            Trigger();
        }
    }

    private void OnSessionEvent(SessionEvent e)
    {
        if (e is SessionEvent.Reconnected or SessionEvent.SessionReestablished)
        {
            Trigger();
        }
    }

    private void Trigger()
    {
        Volatile.Write(ref _pending, 1);
        if (Interlocked.CompareExchange(ref _running, 1, 0) == 0)
        {
            _ = Task.Run(RunRoundsAsync);
        }
    }

    private async Task RunRoundsAsync()
    {
        while (true)
        {
            while (Interlocked.Exchange(ref _pending, 0) == 1 && Volatile.Read(ref _disposed) == 0)
            {
                await ArmAsync().ConfigureAwait(false);
                if (Volatile.Read(ref _disposed) != 0)
                {
                    break;
                }
                try
                {
                    _changed();
                }
                catch (Exception e)
                {
                    _logger.LogWarning(e, "Metadata watch callback failed");
                }
            }
            Volatile.Write(ref _running, 0);
            // A trigger that saw _running == 1 after our last check would otherwise be lost.
            if (Volatile.Read(ref _pending) == 0 || Interlocked.CompareExchange(ref _running, 1, 0) != 0)
            {
                return;
            }
        }
    }

    private async Task ArmAsync()
    {
        try
        {
            await _arm(_store).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not OutOfMemoryException)
        {
            // Connection loss or a closed store: a reconnect/new-session event re-arms.
            _logger.LogDebug(e, "Re-arming a metadata watch failed");
        }
    }

    public void Dispose()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _registration.Dispose();
            _store.SessionEventRaised -= OnSessionEvent;
        }
    }
}
