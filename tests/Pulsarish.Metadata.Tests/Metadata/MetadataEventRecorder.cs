using Pulsarish.Metadata;
using Pulsarish.TestKit;

namespace Pulsarish.Metadata.Tests.Metadata;

/// <summary>Records a store's notifications and session events in arrival order, and waits for them.</summary>
internal sealed class MetadataEventRecorder : IDisposable
{
    public static readonly TimeSpan DefaultTimeout = TimeSpan.FromSeconds(20);

    private readonly IMetadataStore _store;
    private readonly IDisposable _registration;
    private readonly object _lock = new();
    private readonly List<Notification> _notifications = new();
    private readonly List<SessionEvent> _sessionEvents = new();

    public MetadataEventRecorder(IMetadataStore store)
    {
        _store = store;
        _registration = store.RegisterListener(n =>
        {
            lock (_lock) _notifications.Add(n);
        });
        store.SessionEventRaised += OnSessionEvent;
    }

    private void OnSessionEvent(SessionEvent e)
    {
        lock (_lock) _sessionEvents.Add(e);
    }

    public IReadOnlyList<Notification> Notifications
    {
        get { lock (_lock) return _notifications.ToArray(); }
    }

    public IReadOnlyList<SessionEvent> SessionEvents
    {
        get { lock (_lock) return _sessionEvents.ToArray(); }
    }

    public Task<Notification> WaitForAsync(NotificationType type, string path, TimeSpan? timeout = null) =>
        WaitForAsync(n => n.Type == type && n.Path == path, $"{type} {path}", timeout);

    public async Task<Notification> WaitForAsync(Func<Notification, bool> predicate, string what, TimeSpan? timeout = null)
    {
        Notification? found = null;
        bool seen = await Eventually.Until(() =>
        {
            foreach (var n in Notifications)
            {
                if (predicate(n))
                {
                    found = n;
                    return true;
                }
            }
            return false;
        }, timeout ?? DefaultTimeout, TimeSpan.FromMilliseconds(10));
        if (!seen)
        {
            Assert.Fail($"no notification {what} within the timeout; got [{string.Join(", ", Notifications)}]");
        }
        return found!.Value;
    }

    public async Task WaitForSessionEventAsync(SessionEvent e, TimeSpan? timeout = null)
    {
        if (!await Eventually.Until(() => SessionEvents.Contains(e), timeout ?? DefaultTimeout, TimeSpan.FromMilliseconds(10)))
        {
            Assert.Fail($"no session event {e} within the timeout; got [{string.Join(", ", SessionEvents)}]");
        }
    }

    public void Dispose()
    {
        _registration.Dispose();
        _store.SessionEventRaised -= OnSessionEvent;
    }
}
