using Microsoft.Extensions.Logging;

namespace Pulsarish.Common.Metadata;

/// <summary>
/// A persistent watch built from the store's one-shot watches: on every matching notification (and after a
/// reconnect or a new session, when changes may have been missed) it re-arms with a read first, then calls
/// the callback — so no change between two callbacks goes unseen. Callbacks run on the thread pool.
/// </summary>
internal sealed class RearmingWatch : IDisposable
{
    private readonly IMetadataStore _store;
    private readonly Func<Notification, bool> _matches;
    private readonly Func<IMetadataStore, Task> _arm;
    private readonly Action _changed;
    private readonly ILogger _logger;
    private readonly IDisposable _registration;
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
        _ = ArmAsync();
    }

    private void OnNotification(Notification n)
    {
        if (_matches(n))
        {
            _ = RearmAndNotifyAsync();
        }
    }

    private void OnSessionEvent(SessionEvent e)
    {
        if (e is SessionEvent.Reconnected or SessionEvent.SessionReestablished)
        {
            _ = RearmAndNotifyAsync();
        }
    }

    private async Task RearmAndNotifyAsync()
    {
        await ArmAsync().ConfigureAwait(false);
        if (Volatile.Read(ref _disposed) != 0)
        {
            return;
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

    private async Task ArmAsync()
    {
        if (Volatile.Read(ref _disposed) != 0)
        {
            return;
        }
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
