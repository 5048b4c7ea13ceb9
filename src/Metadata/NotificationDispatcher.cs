using System.Threading.Channels;
using Microsoft.Extensions.Logging;

namespace Pulsarish.Metadata;

/// <summary>
/// Delivers one session's notifications and session events, in the order they were enqueued, on a dedicated loop
/// (never on the thread that holds the store's lock). The queue is bounded by a named setting; a full queue makes
/// <see cref="EnqueueAsync(Notification)"/> wait, so a listener must not block synchronously on a store write.
/// </summary>
internal sealed class NotificationDispatcher : IAsyncDisposable
{
    private readonly Channel<DispatchItem> _queue;
    private readonly Action<SessionEvent> _raiseSessionEvent;
    private readonly ILogger _logger;
    private readonly object _listenersLock = new();
    private Action<Notification>[] _listeners = [];
    private readonly Task _loop;

    public NotificationDispatcher(int capacity, Action<SessionEvent> raiseSessionEvent, ILogger logger)
    {
        _queue = Channel.CreateBounded<DispatchItem>(new BoundedChannelOptions(capacity)
        {
            FullMode = BoundedChannelFullMode.Wait,
            SingleReader = true,
            SingleWriter = false,
        });
        _raiseSessionEvent = raiseSessionEvent;
        _logger = logger;
        _loop = Task.Run(RunAsync);
    }

    /// <summary>Adds a listener; dispose the result to remove it.</summary>
    public IDisposable AddListener(Action<Notification> listener)
    {
        ArgumentNullException.ThrowIfNull(listener);
        lock (_listenersLock)
        {
            _listeners = [.. _listeners, listener];
        }
        return new Registration(this, listener);
    }

    public ValueTask EnqueueAsync(Notification notification) => EnqueueAsync(new DispatchItem(notification, null));

    public ValueTask EnqueueAsync(SessionEvent sessionEvent) => EnqueueAsync(new DispatchItem(default, sessionEvent));

    private async ValueTask EnqueueAsync(DispatchItem item)
    {
        if (_queue.Writer.TryWrite(item))
        {
            return;
        }
        try
        {
            await _queue.Writer.WriteAsync(item).ConfigureAwait(false);
        }
        catch (ChannelClosedException)
        {
            // The session's view was disposed: nobody is listening any more.
        }
    }

    /// <summary>Stops accepting items; already queued ones are still delivered.</summary>
    public void Complete() => _queue.Writer.TryComplete();

    public async ValueTask DisposeAsync()
    {
        Complete();
        if (!IsDispatchThread)
        {
            await _loop.ConfigureAwait(false);
        }
    }

    [ThreadStatic] private static NotificationDispatcher? s_current;

    private bool IsDispatchThread => ReferenceEquals(s_current, this);

    private async Task RunAsync()
    {
        await foreach (var item in _queue.Reader.ReadAllAsync().ConfigureAwait(false))
        {
            s_current = this;
            try
            {
                if (item.SessionEvent is { } sessionEvent)
                {
                    Invoke(sessionEvent);
                }
                else
                {
                    foreach (var listener in Volatile.Read(ref _listeners))
                    {
                        Invoke(listener, item.Notification);
                    }
                }
            }
            finally
            {
                s_current = null;
            }
        }
    }

    private void Invoke(SessionEvent sessionEvent)
    {
        try
        {
            _raiseSessionEvent(sessionEvent);
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "Session event handler failed for {SessionEvent}", sessionEvent);
        }
    }

    private void Invoke(Action<Notification> listener, Notification notification)
    {
        try
        {
            listener(notification);
        }
        catch (Exception e)
        {
            _logger.LogWarning(e, "Metadata listener failed for {NotificationType} {Path}", notification.Type, notification.Path);
        }
    }

    private void Remove(Action<Notification> listener)
    {
        lock (_listenersLock)
        {
            int index = Array.IndexOf(_listeners, listener);
            if (index >= 0)
            {
                var copy = new List<Action<Notification>>(_listeners);
                copy.RemoveAt(index);
                _listeners = copy.ToArray();
            }
        }
    }

    private readonly record struct DispatchItem(Notification Notification, SessionEvent? SessionEvent);

    private sealed class Registration(NotificationDispatcher owner, Action<Notification> listener) : IDisposable
    {
        private int _disposed;

        public void Dispose()
        {
            if (Interlocked.Exchange(ref _disposed, 1) == 0)
            {
                owner.Remove(listener);
            }
        }
    }
}
