using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pulsarish.Protocol.Errors;
using Pulsarish.Metadata;

namespace Pulsarish.Broker.Ownership;

/// <summary>
/// Broker liveness (DESIGN.md §6): the ephemeral /loadbalance/brokers/&lt;brokerId&gt; holding the broker's
/// <see cref="BrokerLoadReport"/>. Registers one broker; the owner calls <see cref="RegisterAsync"/> again after a
/// session expiry. Thread-safe.
/// </summary>
public sealed class BrokerRegistry
{
    private readonly IMetadataStore _store;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private string? _brokerId;
    private long _version = -1;

    public BrokerRegistry(IMetadataStore store, ILogger<BrokerRegistry>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        _store = store;
        _logger = logger ?? NullLogger<BrokerRegistry>.Instance;
    }

    /// <summary>
    /// Creates the ephemeral registration. A registration under the same id by another incarnation (a crashed
    /// predecessor whose session has not expired yet) is deleted first: the id belongs to this process now.
    /// </summary>
    public async Task RegisterAsync(BrokerLoadReport report, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(report);
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            string path = OwnershipPaths.Broker(report.BrokerId);
            while (true)
            {
                var existing = await _store.GetAsync(path, ct).ConfigureAwait(false);
                if (existing is not null)
                {
                    var previous = OwnershipJson.Decode<BrokerLoadReport>(existing.Value, path);
                    if (previous.InstanceId == report.InstanceId)
                    {
                        _version = (await _store.PutAsync(path, OwnershipJson.Encode(report), existing.Stat.Version, ct)
                            .ConfigureAwait(false)).Version;
                        break;
                    }
                    _logger.LogWarning("Removing stale registration of broker {BrokerId} (instance {InstanceId})",
                        report.BrokerId, previous.InstanceId);
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
                    _version = 0;
                    break;
                }
                catch (NodeExistsException)
                {
                    // Raced with a predecessor's record: look again.
                }
            }
            _brokerId = report.BrokerId;
            _logger.LogInformation("Broker {BrokerId} registered at {Address}", report.BrokerId, report.Address);
        }
        finally
        {
            _lock.Release();
        }
    }

    /// <summary>Replaces the load report of the registered broker (compare-and-set on our own record).</summary>
    public async Task UpdateAsync(BrokerLoadReport report, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(report);
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_brokerId != report.BrokerId) throw new InvalidOperationException($"broker {report.BrokerId} is not registered");
            _version = (await _store.PutAsync(OwnershipPaths.Broker(report.BrokerId), OwnershipJson.Encode(report), _version, ct)
                .ConfigureAwait(false)).Version;
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
            try
            {
                await _store.DeleteAsync(OwnershipPaths.Broker(_brokerId), _version, ct).ConfigureAwait(false);
            }
            catch (Exception e) when (e is NoNodeException or BadVersionException)
            {
                // Gone with the session, or no longer ours.
            }
            _brokerId = null;
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
