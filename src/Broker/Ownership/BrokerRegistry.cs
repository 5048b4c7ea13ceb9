using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pulsarish.Protocol.Errors;
using Pulsarish.Metadata;

namespace Pulsarish.Broker.Ownership;

/// <summary>
/// Broker liveness (DESIGN.md §6): the ephemeral /loadbalance/brokers/&lt;brokerId&gt; holding the broker's
/// <see cref="BrokerLoadReport"/>. Registers one broker. The record always belongs to the store's current session
/// (DESIGN §9): one left by an earlier session — of a predecessor, or of this broker before a session expiry — is
/// deleted and created anew, never overwritten; a registration that vanished is created again by
/// <see cref="UpdateAsync"/>. Thread-safe.
/// </summary>
public sealed class BrokerRegistry
{
    private readonly IMetadataStore _store;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private string? _brokerId;
    private long _version = -1;
    private long _sessionId;

    public BrokerRegistry(IMetadataStore store, ILogger<BrokerRegistry>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _logger = logger ?? NullLogger<BrokerRegistry>.Instance;
    }

    /// <summary>The broker id registered now, or null.</summary>
    public string? RegisteredBrokerId => Volatile.Read(ref _brokerId);

    /// <summary>
    /// Creates the ephemeral registration under the current session. A registration under the same id by another
    /// incarnation (a crashed predecessor whose session has not expired yet), or by this one under an earlier
    /// session, is deleted first: the id belongs to this process and this session now.
    /// </summary>
    public async Task RegisterAsync(BrokerLoadReport report, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(report);
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            await RegisterLockedAsync(report, ct).ConfigureAwait(false);
        }
        finally
        {
            _lock.Release();
        }
    }

    private async Task RegisterLockedAsync(BrokerLoadReport report, CancellationToken ct)
    {
        string path = OwnershipPaths.Broker(report.BrokerId);
        while (true)
        {
            var existing = await _store.GetAsync(path, ct).ConfigureAwait(false);
            // Read after the call: it waited for a live session, so this is no older than the one that answered.
            long session = _store.SessionId;
            if (existing is not null)
            {
                var previous = OwnershipJson.Decode<BrokerLoadReport>(existing.Value, path);
                if (previous.InstanceId == report.InstanceId && existing.Stat.EphemeralOwner == session)
                {
                    // Ours, under the current session (a create whose answer was lost, or a repeated call).
                    _version = (await _store.PutAsync(path, OwnershipJson.Encode(report), existing.Stat.Version, ct)
                        .ConfigureAwait(false)).Version;
                    _sessionId = session;
                    break;
                }
                // Another session's record dies with that session: replace it, never overwrite it — DESIGN §9.
                _logger.LogWarning(
                    "Replacing the registration of broker {BrokerId} (instance {InstanceId}, session {OwnerSession:x}) "
                    + "by one of instance {OurInstanceId} under session {SessionId:x}",
                    report.BrokerId, previous.InstanceId, existing.Stat.EphemeralOwner, report.InstanceId, session);
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
            try
            {
                await _store.CreateAsync(path, OwnershipJson.Encode(report), CreateOptions.Ephemeral, ct).ConfigureAwait(false);
            }
            catch (NodeExistsException)
            {
                // Raced with a predecessor's record: look again.
                continue;
            }
            // The session may have been replaced while the create was in flight: look again, so only a record of
            // the session current after the create is accepted as ours.
            if (_store.SessionId != session) continue;
            _version = 0;
            _sessionId = session;
            break;
        }
        Volatile.Write(ref _brokerId, report.BrokerId);
        // Watch the record: its deletion (by anyone, or with a session) is a notification for the owner.
        await _store.ExistsAsync(path, ct).ConfigureAwait(false);
        _logger.LogInformation("Broker {BrokerId} registered at {Address} under session {SessionId:x}",
            report.BrokerId, report.Address, _sessionId);
    }

    /// <summary>
    /// Replaces the load report of the registered broker (compare-and-set on our own record). When the record
    /// vanished, was changed by someone else, or belongs to an earlier session, registers anew (DESIGN §9).
    /// Returns true when it had to register again.
    /// </summary>
    public async Task<bool> UpdateAsync(BrokerLoadReport report, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(report);
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_brokerId != report.BrokerId) throw new InvalidOperationException($"broker {report.BrokerId} is not registered");
            string path = OwnershipPaths.Broker(report.BrokerId);
            if (_sessionId == _store.SessionId)
            {
                try
                {
                    _version = (await _store.PutAsync(path, OwnershipJson.Encode(report), _version, ct).ConfigureAwait(false)).Version;
                    // The update fired the watch: watch again for a deletion.
                    await _store.ExistsAsync(path, ct).ConfigureAwait(false);
                    return false;
                }
                catch (Exception e) when (e is NoNodeException or BadVersionException)
                {
                    _logger.LogWarning("Registration of broker {BrokerId} is gone or no longer ours ({Reason}): registering again",
                        report.BrokerId, e.GetType().Name);
                }
            }
            else
            {
                _logger.LogWarning("Registration of broker {BrokerId} belongs to the earlier session {OldSession:x}: registering again",
                    report.BrokerId, _sessionId);
            }
            await RegisterLockedAsync(report, ct).ConfigureAwait(false);
            return true;
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Removes the registration (graceful shutdown); no error when it is already gone.</summary>
    public async Task UnregisterAsync(CancellationToken ct = default)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_brokerId is null) return;
            string id = _brokerId;
            Volatile.Write(ref _brokerId, null);
            try
            {
                await _store.DeleteAsync(OwnershipPaths.Broker(id), _version, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is NoNodeException or BadVersionException)
            {
                // Gone with the session, or no longer ours.
            }
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>The load reports of every registered broker, ordered by broker id; unreadable records are skipped.</summary>
    public async Task<IReadOnlyList<BrokerLoadReport>> GetLiveBrokersAsync(CancellationToken ct = default)
    {
        var names = await _store.GetChildrenAsync(OwnershipPaths.Brokers, ct).ConfigureAwait(false);
        var reports = new List<BrokerLoadReport>(names.Count);
        foreach (var name in names)
        {
            string path = OwnershipPaths.Broker(name);
            var record = await _store.GetAsync(path, ct).ConfigureAwait(false);
            if (record is null) continue;
            try
            {
                reports.Add(OwnershipJson.Decode<BrokerLoadReport>(record.Value, path));
            }
            catch (InvalidMetadataRecordException e)
            {
                _logger.LogWarning(e, "Skipping unreadable broker registration {Path}", path);
            }
        }
        return reports;
    }
}
