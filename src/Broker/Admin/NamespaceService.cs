using System.Text.Json;
using Microsoft.Extensions.Logging;
using Pulsarish.Broker.Errors;
using Pulsarish.Broker.Topics;
using Pulsarish.Protocol.Errors;
using Pulsarish.Metadata;

namespace Pulsarish.Broker.Admin;

/// <summary>
/// Tenants, namespaces and their <see cref="Policies"/> in the metadata store (DESIGN.md §6):
/// /admin/policies/&lt;tenant&gt; (TenantInfo) and /admin/policies/&lt;tenant&gt;/&lt;namespace&gt; (Policies), JSON,
/// updated by versioned compare-and-set. Also the partitioned-topic records under /admin/partitioned-topics. Thread-safe.
/// </summary>
public sealed class NamespaceService
{
    public const string PoliciesRoot = "/admin/policies";
    public const string PartitionedTopicsRoot = "/admin/partitioned-topics";

    private static readonly JsonSerializerOptions s_json = new() { WriteIndented = false };

    private readonly IMetadataStore _store;
    private readonly ILogger _logger;

    public NamespaceService(IMetadataStore store, ILogger<NamespaceService> logger)
    {
        _store = store;
        _logger = logger;
    }

    private static string TenantPath(string tenant) => $"{PoliciesRoot}/{tenant}";
    private static string NamespacePath(string tenant, string ns) => $"{PoliciesRoot}/{tenant}/{ns}";

    /// <summary>/admin/partitioned-topics/&lt;tenant&gt;/&lt;ns&gt;/&lt;topic&gt;.</summary>
    public static string PartitionedTopicPath(TopicName topic) =>
        $"{PartitionedTopicsRoot}/{topic.Tenant}/{topic.Namespace}/{topic.PartitionedTopic.EncodedLocalName}";

    private static void ValidatePart(string kind, string value)
    {
        if (TopicName.NamePartError(value) is { } error)
        {
            throw new BadRequestException($"invalid {kind} name '{EchoedName.Of(value)}': {error}");
        }
    }

    /// <summary>Splits "tenant/namespace".</summary>
    public static (string Tenant, string Namespace) ParseNamespace(string name)
    {
        int slash = name?.IndexOf('/') ?? -1;
        if (slash <= 0 || slash != name!.LastIndexOf('/'))
        {
            throw new BadRequestException($"invalid namespace '{EchoedName.Of(name)}' (expected tenant/namespace)");
        }
        var (tenant, ns) = (name[..slash], name[(slash + 1)..]);
        ValidatePart("tenant", tenant);
        ValidatePart("namespace", ns);
        return (tenant, ns);
    }

    // ---- tenants ----

    public async Task CreateTenantAsync(string tenant, TenantInfo? info = null, CancellationToken ct = default)
    {
        ValidatePart("tenant", tenant);
        try
        {
            await _store.PutAsync(TenantPath(tenant), JsonSerializer.SerializeToUtf8Bytes(info ?? new TenantInfo(), s_json), -1, ct)
                .ConfigureAwait(false);
        }
        catch (NodeExistsException)
        {
            throw new NotAllowedException($"tenant {tenant} already exists");
        }
        _logger.LogInformation("Created tenant {Tenant}", tenant);
    }

    public async Task<TenantInfo?> GetTenantAsync(string tenant, CancellationToken ct = default)
    {
        ValidatePart("tenant", tenant);
        var stored = await _store.GetAsync(TenantPath(tenant), ct).ConfigureAwait(false);
        return stored is null ? null : Deserialize<TenantInfo>(stored.Value, TenantPath(tenant));
    }

    public Task<IReadOnlyList<string>> ListTenantsAsync(CancellationToken ct = default) => _store.GetChildrenAsync(PoliciesRoot, ct);

    /// <summary>Deletes a tenant without namespaces (NotAllowed otherwise).</summary>
    public async Task DeleteTenantAsync(string tenant, CancellationToken ct = default)
    {
        ValidatePart("tenant", tenant);
        var namespaces = await _store.GetChildrenAsync(TenantPath(tenant), ct).ConfigureAwait(false);
        if (namespaces.Count > 0)
        {
            throw new NotAllowedException($"tenant {tenant} still has {namespaces.Count} namespaces");
        }
        try
        {
            await _store.DeleteAsync(TenantPath(tenant), null, ct).ConfigureAwait(false);
        }
        catch (NoNodeException)
        {
            throw new TenantNotFoundException(tenant);
        }
    }

    // ---- namespaces ----

    /// <summary>Creates tenant/namespace with <paramref name="policies"/> (the tenant must exist).</summary>
    public async Task CreateNamespaceAsync(string tenant, string ns, Policies? policies = null, CancellationToken ct = default)
    {
        ValidatePart("tenant", tenant);
        ValidatePart("namespace", ns);
        policies ??= new Policies();
        policies.Validate();
        if (!await _store.ExistsAsync(TenantPath(tenant), ct).ConfigureAwait(false))
        {
            throw new TenantNotFoundException(tenant);
        }
        try
        {
            await _store.PutAsync(NamespacePath(tenant, ns), JsonSerializer.SerializeToUtf8Bytes(policies, s_json), -1, ct)
                .ConfigureAwait(false);
        }
        catch (NodeExistsException)
        {
            throw new NotAllowedException($"namespace {tenant}/{ns} already exists");
        }
        _logger.LogInformation("Created namespace {Tenant}/{Namespace}", tenant, ns);
    }

    /// <summary>The namespace's policies; <see cref="NamespaceNotFoundException"/> when it does not exist.</summary>
    public async Task<Policies> GetPoliciesAsync(string tenant, string ns, CancellationToken ct = default)
    {
        var (policies, _) = await GetVersionedAsync(tenant, ns, ct).ConfigureAwait(false);
        return policies;
    }

    private async Task<(Policies Policies, long Version)> GetVersionedAsync(string tenant, string ns, CancellationToken ct)
    {
        ValidatePart("tenant", tenant);
        ValidatePart("namespace", ns);
        var stored = await _store.GetAsync(NamespacePath(tenant, ns), ct).ConfigureAwait(false)
            ?? throw new NamespaceNotFoundException($"{tenant}/{ns}");
        return (Deserialize<Policies>(stored.Value, NamespacePath(tenant, ns)), stored.Stat.Version);
    }

    /// <summary>Read-modify-CAS of a namespace's policies (retried on a concurrent update).</summary>
    public async Task<Policies> UpdatePoliciesAsync(string tenant, string ns, Action<Policies> update, CancellationToken ct = default)
    {
        for (int attempt = 0; ; attempt++)
        {
            var (policies, version) = await GetVersionedAsync(tenant, ns, ct).ConfigureAwait(false);
            update(policies);
            policies.Validate();
            try
            {
                await _store.PutAsync(NamespacePath(tenant, ns), JsonSerializer.SerializeToUtf8Bytes(policies, s_json), version, ct)
                    .ConfigureAwait(false);
                PoliciesChanged?.Invoke(tenant, ns, policies);
                return policies;
            }
            catch (BadVersionException) when (attempt < 10)
            {
            }
        }
    }

    /// <summary>Replaces a namespace's policies (NamespaceNotFound when it does not exist).</summary>
    public Task<Policies> SetPoliciesAsync(string tenant, string ns, Policies policies, CancellationToken ct = default)
    {
        ArgumentNullException.ThrowIfNull(policies);
        policies.Validate();
        return UpdatePoliciesAsync(tenant, ns, current =>
        {
            current.EnsembleSize = policies.EnsembleSize;
            current.WriteQuorum = policies.WriteQuorum;
            current.AckQuorum = policies.AckQuorum;
            current.RetentionTimeMinutes = policies.RetentionTimeMinutes;
            current.RetentionSizeBytes = policies.RetentionSizeBytes;
            current.MessageTtlSeconds = policies.MessageTtlSeconds;
            current.MaxMessageSizeBytes = policies.MaxMessageSizeBytes;
            current.AllowAutoTopicCreation = policies.AllowAutoTopicCreation;
            current.DeduplicationEnabled = policies.DeduplicationEnabled;
            current.NumberOfBundles = policies.NumberOfBundles;
        }, ct);
    }

    /// <summary>Partitioned topics of a namespace, full names.</summary>
    public async Task<IReadOnlyList<string>> ListPartitionedTopicsAsync(string tenant, string ns, CancellationToken ct = default)
    {
        await GetPoliciesAsync(tenant, ns, ct).ConfigureAwait(false);
        var children = await _store.GetChildrenAsync($"{PartitionedTopicsRoot}/{tenant}/{ns}", ct).ConfigureAwait(false);
        var result = new List<string>(children.Count);
        foreach (var child in children)
        {
            result.Add($"{TopicName.PersistentDomain}://{tenant}/{ns}/{Uri.UnescapeDataString(child)}");
        }
        return result;
    }

    /// <summary>Raised after this service changed a namespace's policies.</summary>
    public event Action<string, string, Policies>? PoliciesChanged;

    public async Task<IReadOnlyList<string>> ListNamespacesAsync(string tenant, CancellationToken ct = default)
    {
        ValidatePart("tenant", tenant);
        if (!await _store.ExistsAsync(TenantPath(tenant), ct).ConfigureAwait(false))
        {
            throw new TenantNotFoundException(tenant);
        }
        var children = await _store.GetChildrenAsync(TenantPath(tenant), ct).ConfigureAwait(false);
        var result = new List<string>(children.Count);
        foreach (var child in children)
        {
            result.Add(tenant + "/" + child);
        }
        return result;
    }

    /// <summary>Topics (managed ledgers) of a namespace, full names.</summary>
    public async Task<IReadOnlyList<string>> ListTopicsAsync(string tenant, string ns, CancellationToken ct = default)
    {
        await GetPoliciesAsync(tenant, ns, ct).ConfigureAwait(false);
        var children = await _store.GetChildrenAsync(ManagedLedgerPaths.Namespace(tenant, ns), ct).ConfigureAwait(false);
        var result = new List<string>(children.Count);
        foreach (var child in children)
        {
            result.Add($"{TopicName.PersistentDomain}://{tenant}/{ns}/{Uri.UnescapeDataString(child)}");
        }
        return result;
    }

    /// <summary>Deletes a namespace without topics (NotAllowed otherwise).</summary>
    public async Task DeleteNamespaceAsync(string tenant, string ns, CancellationToken ct = default)
    {
        var topics = await ListTopicsAsync(tenant, ns, ct).ConfigureAwait(false);
        if (topics.Count > 0)
        {
            throw new NotAllowedException($"namespace {tenant}/{ns} still has {topics.Count} topics");
        }
        var partitioned = await _store.GetChildrenAsync($"{PartitionedTopicsRoot}/{tenant}/{ns}", ct).ConfigureAwait(false);
        if (partitioned.Count > 0)
        {
            throw new NotAllowedException($"namespace {tenant}/{ns} still has {partitioned.Count} partitioned topics");
        }
        await _store.DeleteAsync(NamespacePath(tenant, ns), null, ct).ConfigureAwait(false);
    }

    // ---- partitioned topics ----

    /// <summary>Partition count of the partitioned topic <paramref name="topic"/> belongs to; 0 when not partitioned.</summary>
    public async Task<int> GetPartitionCountAsync(TopicName topic, CancellationToken ct = default)
    {
        var stored = await _store.GetAsync(PartitionedTopicPath(topic), ct).ConfigureAwait(false);
        return stored is null ? 0 : Deserialize<PartitionedTopicMetadata>(stored.Value, PartitionedTopicPath(topic)).Partitions;
    }

    internal async Task CreatePartitionedMetadataAsync(TopicName topic, int partitions, CancellationToken ct)
    {
        try
        {
            await _store.PutAsync(PartitionedTopicPath(topic),
                JsonSerializer.SerializeToUtf8Bytes(new PartitionedTopicMetadata { Partitions = partitions }, s_json), -1, ct)
                .ConfigureAwait(false);
        }
        catch (NodeExistsException)
        {
            throw new NotAllowedException($"partitioned topic {topic} already exists");
        }
    }

    internal Task DeletePartitionedMetadataAsync(TopicName topic, CancellationToken ct) =>
        _store.DeleteRecursiveAsync(PartitionedTopicPath(topic), ct);

    private static T Deserialize<T>(byte[] data, string path)
    {
        try
        {
            return JsonSerializer.Deserialize<T>(data, s_json) ?? throw new CorruptDataException($"empty record at {path}");
        }
        catch (JsonException ex)
        {
            throw new CorruptDataException($"malformed record at {path}: {ex.Message}");
        }
    }

    /// <summary>Ensures tenant <c>public</c> and namespace <c>public/default</c> exist.</summary>
    public async Task EnsureDefaultNamespaceAsync(CancellationToken ct = default)
    {
        if (!await _store.ExistsAsync(TenantPath("public"), ct).ConfigureAwait(false))
        {
            try
            {
                await CreateTenantAsync("public", null, ct).ConfigureAwait(false);
            }
            catch (NotAllowedException)
            {
            }
        }
        if (!await _store.ExistsAsync(NamespacePath("public", "default"), ct).ConfigureAwait(false))
        {
            try
            {
                await CreateNamespaceAsync("public", "default", null, ct).ConfigureAwait(false);
            }
            catch (NotAllowedException)
            {
            }
        }
    }
}
