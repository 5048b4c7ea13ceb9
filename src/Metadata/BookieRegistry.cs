using Google.Protobuf;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pulsarish.Protocol.Errors;
using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Metadata;

/// <summary>
/// Bookie liveness and identity (DESIGN.md §6): the ephemeral /ledgers/available/&lt;bookieId&gt; (re-created after
/// a session expiry) and the cookie /ledgers/cookies/&lt;bookieId&gt; that ties a bookie id to its disks.
/// One instance registers at most one bookie. Thread-safe.
/// </summary>
public sealed class BookieRegistry : IAsyncDisposable
{
    /// <summary>
    /// Default wait for another instance's registration of the same bookie id to vanish: twice the default session
    /// timeout (<see cref="MetadataStoreFactory.DefaultSessionTimeout"/>), so it outlives that instance's session
    /// (BookKeeper waits its zkTimeout likewise). A registration of this bookie's own disks (same cookie instance id)
    /// is replaced at once instead.
    /// </summary>
    public static readonly TimeSpan DefaultStaleRegistrationTimeout = 2 * MetadataStoreFactory.DefaultSessionTimeout;

    private static readonly TimeSpan StaleRegistrationPollInterval = TimeSpan.FromMilliseconds(200);

    private static readonly TimeSpan MaxReRegisterBackoff = TimeSpan.FromSeconds(5);

    private readonly IMetadataStore _store;
    private readonly TimeSpan _staleRegistrationTimeout;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private readonly IDisposable _listener;
    private BookieServiceInfo? _registered;
    private long _registeredSession;
    private int _disposed;

    public BookieRegistry(IMetadataStore store, TimeSpan? staleRegistrationTimeout = null, ILogger<BookieRegistry>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _staleRegistrationTimeout = staleRegistrationTimeout ?? DefaultStaleRegistrationTimeout;
        _logger = logger ?? NullLogger<BookieRegistry>.Instance;
        _store.SessionEventRaised += OnSessionEvent;
        _listener = _store.RegisterListener(OnNotification);
    }

    /// <summary>
    /// Announces the bookie as available (ephemeral, under the store's current session — DESIGN §9). Calling it again
    /// updates the data (e.g. the read-only flag). A registration of this bookie left by an earlier session — of this
    /// registry, or of a previous incarnation with the same <see cref="BookieServiceInfo.InstanceId"/> (cookie) — is
    /// deleted and created anew at once. Another bookie's registration under the same id is waited for up to the
    /// stale-registration timeout (its session may expire), then <see cref="MetadataStoreException"/> with reason
    /// <c>BookieAlreadyRegistered</c> is thrown.
    /// </summary>
    public async Task RegisterAsync(BookieServiceInfo info, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(info);
        ValidateBookieId(info.BookieId);
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_registered is not null && _registered.BookieId != info.BookieId)
            {
                throw new InvalidOperationException($"this registry already registered bookie {_registered.BookieId}");
            }
            await CreateOrUpdateRegistrationAsync(info, ct).ConfigureAwait(false);
            _registered = info.Clone();
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>
    /// Makes the registration hold <paramref name="info"/> under the current session: updates it when it is ours
    /// already, else replaces a stale one of ours or waits out another bookie's. Caller holds the lock.
    /// </summary>
    private async Task CreateOrUpdateRegistrationAsync(BookieServiceInfo info, CancellationToken ct)
    {
        string path = MetadataPaths.AvailableBookie(info.BookieId);
        var deadline = DateTime.UtcNow + _staleRegistrationTimeout;
        bool waitLogged = false;
        while (true)
        {
            var existing = await _store.GetAsync(path, ct).ConfigureAwait(false);
            // Read after the call: it waited for a live session, so this is no older than the one that answered.
            long session = _store.SessionId;
            if (existing is null)
            {
                try
                {
                    await _store.CreateAsync(path, info.ToByteArray(), CreateOptions.Ephemeral, ct).ConfigureAwait(false);
                }
                catch (NodeExistsException)
                {
                    continue; // created concurrently: look at it
                }
                // Look again unless the session is still the one read before the create: only a record of the
                // current session counts as ours.
                if (_store.SessionId != session)
                {
                    continue;
                }
                _registeredSession = session;
                _logger.LogInformation("Registered bookie {BookieId} at {Address} under session {SessionId:x}",
                    info.BookieId, info.Address, session);
                break;
            }
            if (existing.Stat.EphemeralOwner == session)
            {
                // Ours under the current session (a repeated call, or a create whose answer was lost): update it.
                if (existing.Value.AsSpan().SequenceEqual(info.ToByteArray()))
                {
                    _registeredSession = session;
                    break;
                }
                try
                {
                    await _store.PutAsync(path, info.ToByteArray(), existing.Stat.Version, ct).ConfigureAwait(false);
                }
                catch (Exception e) when (e is NoNodeException or BadVersionException)
                {
                    continue;
                }
                _registeredSession = session;
                break;
            }
            var previous = Parse(path, existing.Value);
            bool ours = (previous.InstanceId.Length > 0 && previous.InstanceId == info.InstanceId)
                        || (_registeredSession != 0 && existing.Stat.EphemeralOwner == _registeredSession);
            if (ours)
            {
                // Our own registration under an earlier session dies with that session: replace it, never
                // overwrite it — DESIGN §9.
                _logger.LogWarning(
                    "Replacing the registration of bookie {BookieId} left by session {OwnerSession:x} by one under session {SessionId:x}",
                    info.BookieId, existing.Stat.EphemeralOwner, session);
                try
                {
                    await _store.DeleteAsync(path, existing.Stat.Version, ct).ConfigureAwait(false);
                }
                catch (Exception e) when (e is NoNodeException or BadVersionException)
                {
                    // Vanished or changed meanwhile: look again.
                }
                continue;
            }
            if (DateTime.UtcNow >= deadline)
            {
                throw new MetadataStoreException(
                    "BookieAlreadyRegistered", $"bookie {info.BookieId} is registered by another live session");
            }
            if (!waitLogged)
            {
                _logger.LogInformation(
                    "Bookie {BookieId} is registered by another instance ({InstanceId}, session {OwnerSession:x}); waiting for its session to expire",
                    info.BookieId, previous.InstanceId, existing.Stat.EphemeralOwner);
                waitLogged = true;
            }
            await Task.Delay(StaleRegistrationPollInterval, ct).ConfigureAwait(false);
        }
        // Watch the record: a deletion while registered is re-created (OnNotification).
        await _store.ExistsAsync(path, ct).ConfigureAwait(false);
    }

    private static BookieServiceInfo Parse(string path, byte[] value)
    {
        try
        {
            return BookieServiceInfo.Parser.ParseFrom(value);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidMetadataException(path, "not a BookieServiceInfo record", e);
        }
    }

    /// <summary>Removes this bookie's registration (no error when it is already gone).</summary>
    public async Task UnregisterAsync(CancellationToken ct = default)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_registered is null)
            {
                return;
            }
            try
            {
                await _store.DeleteAsync(MetadataPaths.AvailableBookie(_registered.BookieId), null, ct).ConfigureAwait(false);
            }
            catch (NoNodeException)
            {
                // Already gone with an expired session.
            }
            _logger.LogInformation("Unregistered bookie {BookieId}", _registered.BookieId);
            _registered = null;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Every registered bookie (writable and read-only), ordered by id.</summary>
    public async Task<IReadOnlyList<BookieServiceInfo>> GetAvailableAsync(CancellationToken ct = default)
    {
        var names = await _store.GetChildrenAsync(MetadataPaths.AvailableBookies, ct).ConfigureAwait(false);
        var result = new List<BookieServiceInfo>(names.Count);
        foreach (string name in names)
        {
            string path = MetadataPaths.AvailableBookie(name);
            var record = await _store.GetAsync(path, ct).ConfigureAwait(false);
            if (record is null)
            {
                continue; // vanished between the listing and the read
            }
            var info = Parse(path, record.Value);
            if (info.BookieId != name)
            {
                throw new InvalidMetadataException(path, $"record names bookie '{info.BookieId}'");
            }
            result.Add(info);
        }
        return result;
    }

    /// <summary>Registered bookies that accept writes (not read-only), ordered by id.</summary>
    public async Task<IReadOnlyList<BookieServiceInfo>> GetWritableAsync(CancellationToken ct = default)
    {
        var all = await GetAvailableAsync(ct).ConfigureAwait(false);
        var writable = new List<BookieServiceInfo>(all.Count);
        foreach (var info in all)
        {
            if (!info.ReadOnly)
            {
                writable.Add(info);
            }
        }
        return writable;
    }

    /// <summary>
    /// Calls <paramref name="changed"/> once the watch is armed, then when a bookie registers or unregisters, when a
    /// bookie listed by <see cref="GetAvailableAsync"/> (on this store) changes its data, and after a reconnect or
    /// new session. Calls are serialized and may coalesce changes: list again in the callback. Dispose to stop.
    /// </summary>
    public IDisposable WatchAvailable(Action changed)
    {
        ArgumentNullException.ThrowIfNull(changed);
        return new RearmingWatch(
            _store,
            n => n.Path == MetadataPaths.AvailableBookies
                || (n.Type != NotificationType.ChildrenChanged && MetadataPath.Parent(n.Path) == MetadataPaths.AvailableBookies),
            s => s.GetChildrenAsync(MetadataPaths.AvailableBookies),
            changed,
            _logger);
    }

    /// <summary>Same as <see cref="VerifyOrCreateCookieAsync(Cookie, bool, CancellationToken)"/> for a bookie whose local cookie is new.</summary>
    public Task VerifyOrCreateCookieAsync(Cookie local, CancellationToken ct = default) =>
        VerifyOrCreateCookieAsync(local, localIsNew: true, ct);

    /// <summary>
    /// Checks the bookie's local cookie against the registered one, registering it when none exists yet.
    /// Throws <see cref="InvalidCookieException"/> when the registered cookie differs (other instance id or
    /// directories: swapped, empty or foreign disks), or when none is registered although the local directories
    /// already carried a cookie (<paramref name="localIsNew"/> false: the metadata was lost or belongs elsewhere).
    /// </summary>
    public async Task VerifyOrCreateCookieAsync(Cookie local, bool localIsNew, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(local);
        ValidateBookieId(local.BookieId);
        if (string.IsNullOrEmpty(local.InstanceId))
        {
            throw new ArgumentException("cookie has no instance id", nameof(local));
        }
        string path = MetadataPaths.Cookie(local.BookieId);
        while (true)
        {
            var stored = await ReadCookieAsync(local.BookieId, ct).ConfigureAwait(false);
            if (stored is not null)
            {
                CompareCookies(local, stored);
                return;
            }
            if (!localIsNew)
            {
                throw new InvalidCookieException(local.BookieId, "the directories carry a cookie but none is registered");
            }
            try
            {
                await _store.PutAsync(path, local.ToByteArray(), -1, ct).ConfigureAwait(false);
                _logger.LogInformation("Registered cookie of bookie {BookieId} (instance {InstanceId})", local.BookieId, local.InstanceId);
                return;
            }
            catch (NodeExistsException)
            {
                // Registered concurrently: compare with that one.
            }
        }
    }

    /// <summary>The registered cookie of <paramref name="bookieId"/>, or null.</summary>
    public async Task<Cookie?> ReadCookieAsync(string bookieId, CancellationToken ct = default)
    {
        string path = MetadataPaths.Cookie(bookieId);
        var record = await _store.GetAsync(path, ct).ConfigureAwait(false);
        if (record is null)
        {
            return null;
        }
        try
        {
            return Cookie.Parser.ParseFrom(record.Value);
        }
        catch (InvalidProtocolBufferException e)
        {
            throw new InvalidMetadataException(path, "not a Cookie record", e);
        }
    }

    private static void CompareCookies(Cookie local, Cookie stored)
    {
        string? mismatch =
            stored.BookieId != local.BookieId ? $"registered for bookie '{stored.BookieId}'"
            : stored.InstanceId != local.InstanceId ? $"instance id {local.InstanceId} differs from registered {stored.InstanceId}"
            : stored.JournalDir != local.JournalDir ? $"journal dir {local.JournalDir} differs from registered {stored.JournalDir}"
            : stored.LedgersDir != local.LedgersDir ? $"ledgers dir {local.LedgersDir} differs from registered {stored.LedgersDir}"
            : stored.IndexDir != local.IndexDir ? $"index dir {local.IndexDir} differs from registered {stored.IndexDir}"
            : stored.LayoutVersion != local.LayoutVersion ? $"layout version {local.LayoutVersion} differs from registered {stored.LayoutVersion}"
            : null;
        if (mismatch is not null)
        {
            throw new InvalidCookieException(local.BookieId, mismatch);
        }
    }

    private static void ValidateBookieId(string bookieId)
    {
        if (string.IsNullOrEmpty(bookieId) || bookieId.Contains('/'))
        {
            throw new ArgumentException($"invalid bookie id '{bookieId}'", nameof(bookieId));
        }
    }

    private void OnSessionEvent(SessionEvent e)
    {
        if (e == SessionEvent.SessionReestablished && Volatile.Read(ref _disposed) == 0)
        {
            // The expired session took the ephemeral with it (or will, once the server expires it).
            _ = ReRegisterAsync("session re-established");
        }
    }

    private void OnNotification(Notification n)
    {
        if (n.Type == NotificationType.Deleted && Volatile.Read(ref _disposed) == 0
            && Volatile.Read(ref _registered) is { } registered && n.Path == MetadataPaths.AvailableBookie(registered.BookieId))
        {
            _ = ReRegisterAsync("registration deleted");
        }
    }

    /// <summary>
    /// Registers again, under the current session, while this bookie is registered (DESIGN.md §7 re-join, §9): retries
    /// with back-off until it succeeds, the bookie unregisters, or the registry is disposed.
    /// </summary>
    private async Task ReRegisterAsync(string reason)
    {
        var backoff = TimeSpan.FromMilliseconds(100);
        while (Volatile.Read(ref _disposed) == 0)
        {
            await _lock.WaitAsync().ConfigureAwait(false);
            string? bookieId = _registered?.BookieId;
            try
            {
                if (_registered is null || Volatile.Read(ref _disposed) != 0)
                {
                    return;
                }
                await CreateOrUpdateRegistrationAsync(_registered, CancellationToken.None).ConfigureAwait(false);
                _logger.LogInformation("Bookie {BookieId} registered again ({Reason})", bookieId, reason);
                return;
            }
            catch (Exception e) when (e is not OutOfMemoryException)
            {
                _logger.LogWarning(e, "Re-registering bookie {BookieId} ({Reason}) failed; retrying in {Backoff}", bookieId, reason, backoff);
            }
            finally
            {
                _lock.Release();
            }
            await Task.Delay(backoff).ConfigureAwait(false);
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, MaxReRegisterBackoff.Ticks));
        }
    }

    /// <summary>Stops re-registering; the registration itself ends with the store's session (or <see cref="UnregisterAsync"/>).</summary>
    public ValueTask DisposeAsync()
    {
        if (Interlocked.Exchange(ref _disposed, 1) == 0)
        {
            _store.SessionEventRaised -= OnSessionEvent;
            _listener.Dispose();
        }
        return ValueTask.CompletedTask;
    }
}
