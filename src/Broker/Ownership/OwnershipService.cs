using System.Collections.Concurrent;
using System.ComponentModel.DataAnnotations;
using System.Diagnostics;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pulsarish.Broker.Errors;
using Pulsarish.Protocol.Errors;
using Pulsarish.Metadata;

namespace Pulsarish.Broker.Ownership;

/// <summary>
/// Topic ownership by namespace bundle (DESIGN.md §7, Pulsar's NamespaceService + OwnershipCache):
/// a bundle is owned by the broker whose session holds the ephemeral /namespace/&lt;tenant&gt;/&lt;ns&gt;/&lt;bundle&gt;.
/// <see cref="LookupAsync"/> answers with the owner's address; an unowned bundle is assigned to the least-loaded live
/// broker, which acquires it when the redirected client looks it up there with <c>authoritative: true</c> (so two
/// brokers never bounce a client between them). A broker whose metadata connection drops raises
/// <see cref="ServingStopped"/> at once and serves nothing until the connection is back; after a session expiry it
/// re-registers and serves only what it acquires again. Thread-safe.
/// </summary>
public sealed class OwnershipService : IAsyncDisposable
{
    private readonly IMetadataStore _store;
    private readonly OwnershipOptions _options;
    private readonly ILogger _logger;
    private readonly BrokerRegistry _registry;
    private readonly ConcurrentDictionary<string, NamespaceBundle> _owned = new(StringComparer.Ordinal);
    private readonly ConcurrentDictionary<string, byte> _releasing = new(StringComparer.Ordinal);
    private readonly CancellationTokenSource _closing = new();
    private readonly object _stateLock = new();
    private readonly byte[] _ownershipRecord;
    private IDisposable? _listener;
    private Task _reportLoop = Task.CompletedTask;
    private bool _serving;
    private bool _started;
    private TimeSpan _lastCpu;
    private long _lastCpuTimestamp;

    public OwnershipService(IMetadataStore store, OwnershipOptions options, ILoggerFactory? loggerFactory = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentNullException.ThrowIfNull(options);
        Validator.ValidateObject(options, new ValidationContext(options), validateAllProperties: true);
        if (options.LoadReportInterval <= TimeSpan.Zero) throw new ArgumentException("LoadReportInterval must be > 0", nameof(options));
        _store = store;
        _options = options;
        loggerFactory ??= NullLoggerFactory.Instance;
        _logger = loggerFactory.CreateLogger<OwnershipService>();
        _registry = new BrokerRegistry(store, loggerFactory.CreateLogger<BrokerRegistry>());
        Bundles = new NamespaceBundles(options.BundlesPerNamespace);
        InstanceId = Guid.NewGuid().ToString("N");
        _ownershipRecord = OwnershipJson.Encode(new OwnershipData(options.BrokerId, options.AdvertisedAddress, InstanceId));
    }

    public string BrokerId => _options.BrokerId;

    /// <summary>host:port clients are sent to for bundles this broker owns.</summary>
    public string Address => _options.AdvertisedAddress;

    /// <summary>This process incarnation; written into every record it creates.</summary>
    public string InstanceId { get; }

    public NamespaceBundles Bundles { get; }

    public BrokerRegistry Registry => _registry;

    /// <summary>False while the metadata session is down or lost: no topic may be served.</summary>
    public bool IsServing
    {
        get
        {
            lock (_stateLock) return _serving;
        }
    }

    /// <summary>The bundles this broker owns now (empty while not serving).</summary>
    public IReadOnlyCollection<NamespaceBundle> OwnedBundles => IsServing ? _owned.Values.ToArray() : [];

    /// <summary>Supplies the engine's topic count and message rates for the load report; null reports zeros.</summary>
    public Func<BrokerLoad>? LoadProvider { get; set; }

    /// <summary>
    /// Stop serving every topic now (in-flight sends fail, no reads). Raised on the metadata event thread before
    /// anything else can observe the loss; handlers must be quick and must not block on the metadata store.
    /// </summary>
    public event Action<ServingStopReason>? ServingStopped;

    /// <summary>Serving may resume (reconnected within the session, or re-registered after an expiry).</summary>
    public event Action? ServingResumed;

    /// <summary>A bundle this broker owned is no longer its own (released, lost with the session, or deleted by someone else).</summary>
    public event Action<NamespaceBundle>? BundleLost;

    /// <summary>
    /// Closes the topics of a bundle being released in order (<see cref="ReleaseAsync"/>): awaited before the ownership
    /// record is deleted, so the next owner never opens a topic this broker is still closing (its last ledger,
    /// cursors and de-duplication snapshot are written first). When unset, releases raise <see cref="BundleLost"/>.
    /// </summary>
    public Func<NamespaceBundle, Task>? ReleasingBundle { get; set; }

    /// <summary>Registers the broker and starts serving.</summary>
    public async Task StartAsync(CancellationToken ct = default)
    {
        lock (_stateLock)
        {
            if (_started) throw new InvalidOperationException("already started");
            _started = true;
        }
        _store.SessionEventRaised += OnSessionEvent;
        _listener = _store.RegisterListener(OnNotification);
        _lastCpu = Process.GetCurrentProcess().TotalProcessorTime;
        _lastCpuTimestamp = Stopwatch.GetTimestamp();
        await _registry.RegisterAsync(CurrentReport(), ct).ConfigureAwait(false);
        lock (_stateLock) _serving = true;
        _reportLoop = Task.Run(ReportLoopAsync);
    }

    /// <summary>Whether this broker owns <paramref name="topic"/>'s bundle and may serve it now.</summary>
    public bool IsOwnedByMe(string topic)
    {
        var bundle = Bundles.Find(topic);
        lock (_stateLock) return _serving && _owned.ContainsKey(bundle.Path);
    }

    /// <summary>
    /// The address of the broker that owns (or is to own) <paramref name="topic"/>. When the bundle is unowned and
    /// this broker is the least loaded — or <paramref name="authoritative"/> is set because another broker
    /// redirected the client here — this broker acquires it. Throws <see cref="ServiceNotReadyException"/> while
    /// the metadata session is down.
    /// </summary>
    public async Task<string> LookupAsync(string topic, bool authoritative = false, CancellationToken ct = default)
    {
        var bundle = Bundles.Find(topic);
        for (int attempt = 0; ; attempt++)
        {
            EnsureServing();
            if (_owned.ContainsKey(bundle.Path)) return Address;
            var owner = await ReadOwnerAsync(bundle, ct).ConfigureAwait(false);
            if (owner is not null) return owner.Address;
            if (!authoritative)
            {
                var candidate = LeastLoadedBrokerSelector.Select(await _registry.GetLiveBrokersAsync(ct).ConfigureAwait(false), bundle);
                if (candidate is not null && candidate.BrokerId != BrokerId) return candidate.Address;
            }
            var acquired = await TryAcquireAsync(bundle, ct).ConfigureAwait(false);
            if (acquired is not null) return acquired.Address;
            // The winner's record vanished between our create and our read: look again (bounded).
            if (attempt >= 3) throw new ServiceNotReadyException($"ownership of {bundle} is changing; retry the lookup");
        }
    }

    /// <summary>
    /// Makes sure this broker owns <paramref name="topic"/>'s bundle, acquiring it when unowned (a client opened the
    /// topic here directly). Returns null when it is ours, else the owner's address.
    /// </summary>
    public async Task<string?> EnsureOwnedAsync(string topic, CancellationToken ct = default)
    {
        string address = await LookupAsync(topic, authoritative: true, ct).ConfigureAwait(false);
        return IsOwnedByMe(topic) ? null : address;
    }

    /// <summary>
    /// Graceful unload: stop serving the bundle, close its topics (<see cref="ReleasingBundle"/>, awaited), then delete
    /// its ownership record.
    /// </summary>
    public async Task ReleaseAsync(NamespaceBundle bundle, CancellationToken ct = default)
    {
        if (!_owned.TryRemove(bundle.Path, out _)) return;
        _releasing[bundle.Path] = 0;
        try
        {
            if (ReleasingBundle is { } closeTopics)
            {
                try
                {
                    await closeTopics(bundle).ConfigureAwait(false);
                }
                catch (Exception ex)
                {
                    // Releasing anyway: the next owner fences whatever was not closed (DESIGN §4, §7).
                    _logger.LogWarning(ex, "Closing the topics of {Bundle} before releasing it failed", bundle);
                }
            }
            else
            {
                BundleLost?.Invoke(bundle);
            }

            try
            {
                await _store.DeleteAsync(bundle.Path, null, ct).ConfigureAwait(false);
            }
            catch (NoNodeException)
            {
                // Already gone (session expired meanwhile).
            }
            _logger.LogInformation("Released bundle {Bundle}", bundle);
        }
        finally
        {
            _releasing.TryRemove(bundle.Path, out _);
        }
        await PublishLoadAsync(ct).ConfigureAwait(false);
    }

    /// <summary>Releases every owned bundle (shutdown).</summary>
    public async Task ReleaseAllAsync(CancellationToken ct = default)
    {
        foreach (var bundle in _owned.Values.ToArray()) await ReleaseAsync(bundle, ct).ConfigureAwait(false);
    }

    /// <summary>Who owns <paramref name="bundle"/> according to the metadata store, or null when nobody does.</summary>
    public async Task<OwnershipData?> GetOwnerAsync(NamespaceBundle bundle, CancellationToken ct = default)
    {
        var record = await _store.GetAsync(bundle.Path, ct).ConfigureAwait(false);
        return record is null ? null : OwnershipJson.Decode<OwnershipData>(record.Value, bundle.Path);
    }

    public async ValueTask DisposeAsync()
    {
        if (_closing.IsCancellationRequested) return;
        _closing.Cancel();
        _store.SessionEventRaised -= OnSessionEvent;
        bool wasServing;
        lock (_stateLock)
        {
            wasServing = _serving;
            _serving = false;
        }
        if (wasServing) ServingStopped?.Invoke(ServingStopReason.Closing);
        try
        {
            await _reportLoop.ConfigureAwait(false);
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }
        try
        {
            if (wasServing)
            {
                using var cts = new CancellationTokenSource(TimeSpan.FromSeconds(5));
                await ReleaseAllAsync(cts.Token).ConfigureAwait(false);
                await _registry.UnregisterAsync(cts.Token).ConfigureAwait(false);
            }
        }
        catch (Exception e) when (e is MetadataStoreException or OperationCanceledException)
        {
            _logger.LogWarning(e, "Could not release ownership on close; it goes with the session");
        }
        _listener?.Dispose();
        _owned.Clear();
        _closing.Dispose();
    }

    private void EnsureServing()
    {
        lock (_stateLock)
        {
            if (!_serving) throw new ServiceNotReadyException($"broker {BrokerId} has no metadata session");
        }
    }

    /// <summary>
    /// The current owner. A record of this broker id left by a previous incarnation, or by this one under an earlier
    /// session, is deleted (we hold the id and only the current session's records count — DESIGN §9).
    /// </summary>
    private async Task<OwnershipData?> ReadOwnerAsync(NamespaceBundle bundle, CancellationToken ct)
    {
        var record = await _store.GetAsync(bundle.Path, ct).ConfigureAwait(false);
        if (record is null) return null;
        var owner = OwnershipJson.Decode<OwnershipData>(record.Value, bundle.Path);
        if (owner.BrokerId != BrokerId) return owner;
        // Read after the call: it waited for a live session, so this is no older than the one that answered.
        long session = _store.SessionId;
        if (owner.InstanceId == InstanceId && record.Stat.EphemeralOwner == session)
        {
            // Our create succeeded (its answer may have been lost with the connection): the record is ours.
            Adopt(bundle);
            return owner;
        }
        _logger.LogWarning(
            "Deleting stale ownership of {Bundle} by {BrokerId} (instance {InstanceId}, session {OwnerSession:x}; ours: {OurInstanceId}, session {SessionId:x})",
            bundle, BrokerId, owner.InstanceId, record.Stat.EphemeralOwner, InstanceId, session);
        try
        {
            await _store.DeleteAsync(bundle.Path, record.Stat.Version, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is NoNodeException or BadVersionException)
        {
            // Someone else changed it: the next read decides.
        }
        return null;
    }

    /// <summary>
    /// Creates the ephemeral ownership record; on NodeExists someone else won and that owner is returned. Returns
    /// null when the record is not (or no longer) ours under the current session: the caller looks again.
    /// </summary>
    private async Task<OwnershipData?> TryAcquireAsync(NamespaceBundle bundle, CancellationToken ct)
    {
        EnsureServing();
        try
        {
            await _store.CreateAsync(bundle.Path, _ownershipRecord, CreateOptions.Ephemeral, ct).ConfigureAwait(false);
        }
        catch (NodeExistsException)
        {
            return await ReadOwnerAsync(bundle, ct).ConfigureAwait(false);
        }
        // Read it back: adopted only when it belongs to the current session (the session may have been replaced while
        // the create was in flight); the read also watches it, so a deletion by someone else is noticed.
        var owner = await ReadOwnerAsync(bundle, ct).ConfigureAwait(false);
        if (owner is null || !_owned.ContainsKey(bundle.Path)) return owner;
        _logger.LogInformation("Acquired bundle {Bundle}", bundle);
        await PublishLoadAsync(ct).ConfigureAwait(false);
        return owner;
    }

    private void Adopt(NamespaceBundle bundle) => _owned[bundle.Path] = bundle;

    private void OnNotification(Notification n)
    {
        if (n.Type != NotificationType.Deleted || _closing.IsCancellationRequested) return;
        if (n.Path == OwnershipPaths.Broker(BrokerId) && _registry.RegisteredBrokerId == BrokerId)
        {
            // Our registration vanished while we run: the load report re-creates it — DESIGN §9.
            _logger.LogWarning("Registration of broker {BrokerId} was deleted; registering again", BrokerId);
            _ = Task.Run(() => PublishLoadAsync(_closing.Token));
            return;
        }
        if (_releasing.ContainsKey(n.Path) || !_owned.ContainsKey(n.Path)) return;
        _ = Task.Run(() => RevalidateAsync(n.Path));
    }

    /// <summary>
    /// An owned bundle's record was deleted. Unless it is ours under the current session again (we replaced it
    /// ourselves), the bundle is lost: whoever created a record meanwhile may serve it, so its topics close now; then
    /// we try to own it again (a create, which loses to any new owner) — DESIGN §9.
    /// </summary>
    private async Task RevalidateAsync(string path)
    {
        if (!_owned.TryGetValue(path, out var bundle)) return;
        try
        {
            var record = await _store.GetAsync(path, _closing.Token).ConfigureAwait(false);
            if (record is not null && record.Stat.EphemeralOwner == _store.SessionId
                && OwnershipJson.Decode<OwnershipData>(record.Value, path).InstanceId == InstanceId)
            {
                return;
            }
        }
        catch (Exception e) when (e is MetadataStoreException or InvalidMetadataRecordException)
        {
            _logger.LogInformation(e, "Reading the ownership record of {Bundle} failed", bundle);
        }
        catch (Exception e) when (e is OperationCanceledException or ObjectDisposedException)
        {
            return;
        }
        if (_releasing.ContainsKey(path) || !_owned.TryRemove(path, out _)) return;
        _logger.LogWarning("Ownership record of {Bundle} was deleted by someone else; acquiring it again", bundle);
        BundleLost?.Invoke(bundle);
        await ReacquireAsync(bundle).ConfigureAwait(false);
    }

    private async Task ReacquireAsync(NamespaceBundle bundle)
    {
        try
        {
            var owner = await TryAcquireAsync(bundle, _closing.Token).ConfigureAwait(false);
            _logger.LogInformation("Bundle {Bundle} re-acquired: owner {Owner}", bundle, owner?.BrokerId ?? "none");
        }
        catch (Exception e) when (e is MetadataStoreException or ServiceNotReadyException or InvalidMetadataRecordException
                                      or OperationCanceledException or ObjectDisposedException)
        {
            // The next lookup of one of its topics assigns it again.
            _logger.LogInformation(e, "Re-acquiring bundle {Bundle} failed; the next lookup assigns it", bundle);
        }
    }

    private void OnSessionEvent(SessionEvent e)
    {
        switch (e)
        {
            case SessionEvent.ConnectionLost:
                StopServing(ServingStopReason.ConnectionLost);
                break;
            case SessionEvent.Reconnected:
                // The session and its ephemerals survived: what we owned is still ours.
                ResumeServing();
                break;
            case SessionEvent.SessionLost:
                StopServing(ServingStopReason.SessionLost);
                foreach (var path in _owned.Keys.ToArray())
                    if (_owned.TryRemove(path, out var bundle)) BundleLost?.Invoke(bundle);
                break;
            case SessionEvent.SessionReestablished:
                _ = Task.Run(ReregisterAsync);
                break;
        }
    }

    private void StopServing(ServingStopReason reason)
    {
        lock (_stateLock)
        {
            if (!_started || _closing.IsCancellationRequested) return;
            _serving = false;
        }
        _logger.LogWarning("Broker {BrokerId} stops serving every topic: {Reason}", BrokerId, reason);
        ServingStopped?.Invoke(reason);
    }

    private void ResumeServing()
    {
        lock (_stateLock)
        {
            if (_serving || _closing.IsCancellationRequested) return;
            _serving = true;
        }
        _logger.LogInformation("Broker {BrokerId} serves again ({Bundles} bundles owned)", BrokerId, _owned.Count);
        ServingResumed?.Invoke();
    }

    /// <summary>After a session expiry: register again with back-off, then serve only what is acquired anew.</summary>
    private async Task ReregisterAsync()
    {
        var backoff = TimeSpan.FromMilliseconds(100);
        while (!_closing.IsCancellationRequested)
        {
            try
            {
                await _registry.RegisterAsync(CurrentReport(), _closing.Token).ConfigureAwait(false);
                ResumeServing();
                return;
            }
            catch (Exception ex) when (ex is MetadataStoreException or InvalidMetadataRecordException)
            {
                _logger.LogWarning(ex, "Re-registering broker {BrokerId} failed; retrying in {Backoff}", BrokerId, backoff);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            try
            {
                await Task.Delay(backoff, _closing.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            backoff = TimeSpan.FromTicks(Math.Min(backoff.Ticks * 2, TimeSpan.FromSeconds(5).Ticks));
        }
    }

    private async Task ReportLoopAsync()
    {
        while (!_closing.IsCancellationRequested)
        {
            try
            {
                await Task.Delay(_options.LoadReportInterval, _closing.Token).ConfigureAwait(false);
            }
            catch (OperationCanceledException)
            {
                return;
            }
            await PublishLoadAsync(_closing.Token).ConfigureAwait(false);
        }
    }

    /// <summary>
    /// Publishes the load report; the registry re-creates a registration that vanished or belongs to an earlier
    /// session (DESIGN §9), so the periodic report also heals the registration.
    /// </summary>
    private async Task PublishLoadAsync(CancellationToken ct)
    {
        if (!IsServing) return;
        try
        {
            if (await _registry.UpdateAsync(CurrentReport(), ct).ConfigureAwait(false))
            {
                _logger.LogWarning("Broker {BrokerId} registered again", BrokerId);
            }
        }
        catch (OperationCanceledException) when (ct.IsCancellationRequested)
        {
            // Closing.
        }
        catch (InvalidOperationException) when (_registry.RegisteredBrokerId is null)
        {
            // Unregistered (closing).
        }
        catch (Exception e) when (e is MetadataStoreException or InvalidMetadataRecordException or OperationCanceledException)
        {
            // The next report tries again.
            _logger.LogWarning(e, "Load report of {BrokerId} not published; the next report retries", BrokerId);
        }
    }

    private BrokerLoadReport CurrentReport()
    {
        var load = LoadProvider?.Invoke() ?? default;
        return new BrokerLoadReport(BrokerId, Address, InstanceId, _owned.Count, load.TopicCount, load.MsgRateIn,
            load.MsgRateOut, SampleCpuPercent(), DateTimeOffset.UtcNow.ToUnixTimeMilliseconds());
    }

    private double SampleCpuPercent()
    {
        lock (_stateLock)
        {
            var cpu = Process.GetCurrentProcess().TotalProcessorTime;
            long now = Stopwatch.GetTimestamp();
            double elapsedSeconds = Stopwatch.GetElapsedTime(_lastCpuTimestamp, now).TotalSeconds;
            double percent = elapsedSeconds > 0 ? (cpu - _lastCpu).TotalSeconds / elapsedSeconds * 100 : 0;
            _lastCpu = cpu;
            _lastCpuTimestamp = now;
            return Math.Round(percent, 1);
        }
    }
}
