using System.Text.Json;
using Grpc.Core;
using Microsoft.Extensions.Logging;
using Pulsarish.Broker.Admin;
using Pulsarish.Broker.Errors;
using Pulsarish.Broker.Ownership;
using Pulsarish.Broker.Topics;
using Pulsarish.Protocol.Errors;
using Pulsarish.Protocol.Admin;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Server;

/// <summary>
/// The admin gRPC service (proto/admin.proto): translates wire ↔ engine calls (<see cref="BrokerService"/>,
/// <see cref="NamespaceService"/>, ownership) and maps errors through <see cref="ErrorMapper"/>. Topic-level calls
/// load the topic here, so they answer NOT_OWNER when another broker owns it.
/// </summary>
public sealed class AdminGrpcService(BrokerServiceAccessor accessor, ILogger<AdminGrpcService> logger)
    : Stubs.PulsarishAdmin.PulsarishAdminBase
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web)
    {
        WriteIndented = true, Converters = { new SubscriptionTypeJsonConverter() },
    };
    private static readonly AdminEmpty Done = new();

    public override Task<NameList> ListTenants(AdminEmpty request, ServerCallContext context) =>
        Call(async (b, ct) => Names(await b.Namespaces.ListTenantsAsync(ct).ConfigureAwait(false)), context);

    public override Task<AdminEmpty> CreateTenant(TenantRequest request, ServerCallContext context) =>
        Call(async (b, ct) =>
        {
            await b.Namespaces.CreateTenantAsync(Required(request.Tenant, "tenant"), null, ct).ConfigureAwait(false);
            return Done;
        }, context);

    public override Task<AdminEmpty> DeleteTenant(TenantRequest request, ServerCallContext context) =>
        Call(async (b, ct) =>
        {
            await b.Namespaces.DeleteTenantAsync(Required(request.Tenant, "tenant"), ct).ConfigureAwait(false);
            return Done;
        }, context);

    public override Task<NameList> ListNamespaces(TenantRequest request, ServerCallContext context) =>
        Call(async (b, ct) => Names(await b.Namespaces.ListNamespacesAsync(Required(request.Tenant, "tenant"), ct).ConfigureAwait(false)), context);

    public override Task<AdminEmpty> CreateNamespace(NamespaceRequest request, ServerCallContext context) =>
        Call(async (b, ct) =>
        {
            var (tenant, ns) = NamespaceService.ParseNamespace(request.Namespace);
            await b.Namespaces.CreateNamespaceAsync(tenant, ns, null, ct).ConfigureAwait(false);
            return Done;
        }, context);

    public override Task<AdminEmpty> DeleteNamespace(NamespaceRequest request, ServerCallContext context) =>
        Call(async (b, ct) =>
        {
            var (tenant, ns) = NamespaceService.ParseNamespace(request.Namespace);
            await b.Namespaces.DeleteNamespaceAsync(tenant, ns, ct).ConfigureAwait(false);
            return Done;
        }, context);

    public override Task<NamespacePolicies> GetPolicies(NamespaceRequest request, ServerCallContext context) =>
        Call(async (b, ct) =>
        {
            var (tenant, ns) = NamespaceService.ParseNamespace(request.Namespace);
            return ToWire(await b.Namespaces.GetPoliciesAsync(tenant, ns, ct).ConfigureAwait(false));
        }, context);

    public override Task<NamespacePolicies> GetEffectivePolicies(NamespaceRequest request, ServerCallContext context) =>
        Call(async (b, ct) =>
        {
            var (tenant, ns) = NamespaceService.ParseNamespace(request.Namespace);
            var policies = await b.Namespaces.GetPoliciesAsync(tenant, ns, ct).ConfigureAwait(false);
            var e = EffectivePolicies.Resolve(policies, b.Options);
            return new NamespacePolicies
            {
                EnsembleSize = e.EnsembleSize,
                WriteQuorum = e.WriteQuorum,
                AckQuorum = e.AckQuorum,
                RetentionTimeMinutes = e.RetentionTime < TimeSpan.Zero ? -1 : (long)e.RetentionTime.TotalMinutes,
                RetentionSizeBytes = e.RetentionSizeBytes,
                MessageTtlSeconds = (long)e.MessageTtl.TotalSeconds,
                MaxMessageSizeBytes = e.MaxMessageSizeBytes,
                AllowAutoTopicCreation = e.AllowAutoTopicCreation,
                DeduplicationEnabled = e.DeduplicationEnabled,
                NumberOfBundles = policies.NumberOfBundles ?? b.Options.DefaultNumberOfNamespaceBundles,
            };
        }, context);

    public override Task<NamespacePolicies> SetPolicies(SetPoliciesRequest request, ServerCallContext context) =>
        Call(async (b, ct) =>
        {
            var (tenant, ns) = NamespaceService.ParseNamespace(request.Namespace);
            var changes = request.Policies ?? new NamespacePolicies();
            var updated = await b.Namespaces.UpdatePoliciesAsync(tenant, ns, p => Apply(changes, p), ct).ConfigureAwait(false);
            return ToWire(updated);
        }, context);

    public override Task<NameList> UnloadNamespace(NamespaceRequest request, ServerCallContext context) =>
        Call(async (b, ct) =>
        {
            var (tenant, ns) = NamespaceService.ParseNamespace(request.Namespace);
            string name = tenant + "/" + ns;
            var unloaded = new NameList();
            if (b.Ownership is ClusterOwnershipService cluster)
            {
                foreach (var bundle in cluster.Service.OwnedBundles)
                {
                    if (bundle.Namespace != name) continue;
                    await cluster.Service.ReleaseAsync(bundle, ct).ConfigureAwait(false);
                    unloaded.Names.Add(bundle.ToString());
                }
                return unloaded;
            }
            foreach (var topic in b.LoadedTopics)
            {
                var parsed = TopicName.Parse(topic);
                if (parsed.Tenant != tenant || parsed.Namespace != ns) continue;
                await b.UnloadTopicAsync(topic, ct).ConfigureAwait(false);
                unloaded.Names.Add(topic);
            }
            return unloaded;
        }, context);

    public override Task<NameList> ListTopics(NamespaceRequest request, ServerCallContext context) =>
        Call(async (b, ct) =>
        {
            var (tenant, ns) = NamespaceService.ParseNamespace(request.Namespace);
            // As Pulsar's topics list: the non-partitioned topics and every partition of the partitioned ones,
            // including partitions no client has used yet.
            var topics = new SortedSet<string>(await b.Namespaces.ListTopicsAsync(tenant, ns, ct).ConfigureAwait(false), StringComparer.Ordinal);
            foreach (var partitioned in await b.Namespaces.ListPartitionedTopicsAsync(tenant, ns, ct).ConfigureAwait(false))
            {
                var name = TopicName.Parse(partitioned);
                int partitions = await b.GetPartitionCountAsync(partitioned, ct).ConfigureAwait(false);
                for (int i = 0; i < partitions; i++)
                {
                    topics.Add(name.Partition(i).FullName);
                }
            }
            return Names(topics);
        }, context);

    public override Task<JsonReply> ListBookies(AdminEmpty request, ServerCallContext context) =>
        Call(async (b, ct) =>
        {
            await using var registry = new Metadata.BookieRegistry(b.Store);
            var bookies = await registry.GetAvailableAsync(ct).ConfigureAwait(false);
            return Document(bookies.Select(i => new { bookieId = i.BookieId, address = i.Address, rack = i.Rack, readOnly = i.ReadOnly }));
        }, context);

    public override Task<NameList> ListPartitionedTopics(NamespaceRequest request, ServerCallContext context) =>
        Call(async (b, ct) =>
        {
            var (tenant, ns) = NamespaceService.ParseNamespace(request.Namespace);
            return Names(await b.Namespaces.ListPartitionedTopicsAsync(tenant, ns, ct).ConfigureAwait(false));
        }, context);

    public override Task<AdminEmpty> CreateTopic(TopicRequest request, ServerCallContext context) =>
        Call(async (b, ct) =>
        {
            await b.CreateTopicAsync(request.Topic, ct).ConfigureAwait(false);
            return Done;
        }, context);

    public override Task<AdminEmpty> CreatePartitionedTopic(CreatePartitionedTopicRequest request, ServerCallContext context) =>
        Call(async (b, ct) =>
        {
            await b.CreatePartitionedTopicAsync(request.Topic, request.Partitions, ct).ConfigureAwait(false);
            return Done;
        }, context);

    public override Task<AdminEmpty> DeleteTopic(DeleteTopicRequest request, ServerCallContext context) =>
        Call(async (b, ct) =>
        {
            await b.DeleteTopicAsync(request.Topic, request.Force, ct).ConfigureAwait(false);
            return Done;
        }, context);

    public override Task<JsonReply> GetTopicStats(TopicRequest request, ServerCallContext context) =>
        Call(async (b, ct) => Document(await b.GetStatsAsync(request.Topic, ct).ConfigureAwait(false)), context);

    public override Task<JsonReply> GetTopicInternalStats(TopicRequest request, ServerCallContext context) =>
        Call(async (b, ct) => Document(await b.GetInternalStatsAsync(request.Topic, ct).ConfigureAwait(false)), context);

    public override Task<AdminEmpty> UnloadTopic(TopicRequest request, ServerCallContext context) =>
        Call(async (b, ct) =>
        {
            await b.UnloadTopicAsync(request.Topic, ct).ConfigureAwait(false);
            return Done;
        }, context);

    public override Task<NameList> ListSubscriptions(TopicRequest request, ServerCallContext context) =>
        Call(async (b, ct) =>
        {
            var topic = await b.GetOrLoadTopicAsync(request.Topic, createIfMissing: false, ct).ConfigureAwait(false);
            var names = topic.Subscriptions.Keys.ToList();
            names.Sort(StringComparer.Ordinal);
            return Names(names);
        }, context);

    public override Task<AdminEmpty> CreateSubscription(SubscriptionRequest request, ServerCallContext context) =>
        Call(async (b, ct) =>
        {
            var topic = await b.GetOrLoadTopicAsync(request.Topic, createIfMissing: false, ct).ConfigureAwait(false);
            if (topic.Subscriptions.ContainsKey(request.Subscription))
                throw new NotAllowedException($"subscription {request.Subscription} already exists on {topic.Name}");
            await topic.GetOrCreateSubscriptionAsync(Required(request.Subscription, "subscription"), SubscriptionType.Exclusive,
                request.Earliest ? InitialPosition.Earliest : InitialPosition.Latest, ct).ConfigureAwait(false);
            return Done;
        }, context);

    public override Task<AdminEmpty> DeleteSubscription(SubscriptionRequest request, ServerCallContext context) =>
        Call(async (b, ct) =>
        {
            var topic = await b.GetOrLoadTopicAsync(request.Topic, createIfMissing: false, ct).ConfigureAwait(false);
            await topic.UnsubscribeAsync(Required(request.Subscription, "subscription"), ct).ConfigureAwait(false);
            return Done;
        }, context);

    public override Task<AdminEmpty> ResetCursor(ResetCursorRequest request, ServerCallContext context) =>
        Call(async (b, ct) =>
        {
            var subscription = await SubscriptionOf(b, request.Topic, request.Subscription, ct).ConfigureAwait(false);
            switch (request.TargetCase)
            {
                case ResetCursorRequest.TargetOneofCase.PublishTimeMillis:
                    await subscription.SeekByTimeAsync(request.PublishTimeMillis, ct).ConfigureAwait(false);
                    break;
                case ResetCursorRequest.TargetOneofCase.MessageId:
                    await subscription.SeekAsync(ParseMessageId(request.MessageId), ct).ConfigureAwait(false);
                    break;
                default:
                    throw new BadRequestException("reset-cursor needs a publish time or a message id");
            }
            return Done;
        }, context);

    public override Task<SkipMessagesResponse> SkipMessages(SkipMessagesRequest request, ServerCallContext context) =>
        Call(async (b, ct) =>
        {
            if (request.Count < 1) throw new BadRequestException("skip count must be ≥ 1");
            var subscription = await SubscriptionOf(b, request.Topic, request.Subscription, ct).ConfigureAwait(false);
            return new SkipMessagesResponse { Skipped = await subscription.SkipMessagesAsync(request.Count, ct).ConfigureAwait(false) };
        }, context);

    public override Task<JsonReply> ListBrokers(AdminEmpty request, ServerCallContext context) =>
        Call(async (b, ct) =>
        {
            var live = await new BrokerRegistry(b.Store).GetLiveBrokersAsync(ct).ConfigureAwait(false);
            if (live.Count == 0)
            {
                // A standalone broker does not register for load balancing: it is the only broker, so it lists itself.
                live = [new BrokerLoadReport(b.Options.BrokerId, b.Options.AdvertisedAddress, "", 0, b.LoadedTopics.Count,
                    0, 0, 0, DateTimeOffset.UtcNow.ToUnixTimeMilliseconds())];
            }
            return Document(live);
        }, context);

    private static async Task<Dispatch.Subscription> SubscriptionOf(BrokerService b, string topicName, string name, CancellationToken ct)
    {
        var topic = await b.GetOrLoadTopicAsync(topicName, createIfMissing: false, ct).ConfigureAwait(false);
        return topic.Subscriptions.TryGetValue(name, out var subscription)
            ? subscription
            : throw new SubscriptionNotFoundException(topic.Name.FullName, name);
    }

    private static Topics.MessageId ParseMessageId(string text)
    {
        var parts = text.Split(':');
        if (parts.Length < 2 || !long.TryParse(parts[0], out long ledgerId) || !long.TryParse(parts[1], out long entryId))
            throw new BadRequestException($"message id '{EchoedName.Of(text)}' is not ledgerId:entryId");
        return new Topics.MessageId(ledgerId, entryId, -1, -1, 0);
    }

    private static string Required(string value, string what) =>
        string.IsNullOrWhiteSpace(value) ? throw new BadRequestException($"missing {what}") : value;

    private static NameList Names(IEnumerable<string> names)
    {
        var list = new NameList();
        list.Names.AddRange(names);
        return list;
    }

    private static JsonReply Document<T>(T value) => new() { Json = JsonSerializer.Serialize(value, Json) };

    private static NamespacePolicies ToWire(Policies p)
    {
        var wire = new NamespacePolicies();
        if (p.EnsembleSize is int e) wire.EnsembleSize = e;
        if (p.WriteQuorum is int qw) wire.WriteQuorum = qw;
        if (p.AckQuorum is int qa) wire.AckQuorum = qa;
        if (p.RetentionTimeMinutes is long rt) wire.RetentionTimeMinutes = rt;
        if (p.RetentionSizeBytes is long rs) wire.RetentionSizeBytes = rs;
        if (p.MessageTtlSeconds is long ttl) wire.MessageTtlSeconds = ttl;
        if (p.MaxMessageSizeBytes is int max) wire.MaxMessageSizeBytes = max;
        if (p.AllowAutoTopicCreation is bool auto) wire.AllowAutoTopicCreation = auto;
        if (p.DeduplicationEnabled is bool dedup) wire.DeduplicationEnabled = dedup;
        if (p.NumberOfBundles is int bundles) wire.NumberOfBundles = bundles;
        return wire;
    }

    private static void Apply(NamespacePolicies changes, Policies p)
    {
        if (changes.HasEnsembleSize) p.EnsembleSize = changes.EnsembleSize;
        if (changes.HasWriteQuorum) p.WriteQuorum = changes.WriteQuorum;
        if (changes.HasAckQuorum) p.AckQuorum = changes.AckQuorum;
        if (changes.HasRetentionTimeMinutes) p.RetentionTimeMinutes = changes.RetentionTimeMinutes;
        if (changes.HasRetentionSizeBytes) p.RetentionSizeBytes = changes.RetentionSizeBytes;
        if (changes.HasMessageTtlSeconds) p.MessageTtlSeconds = changes.MessageTtlSeconds;
        if (changes.HasMaxMessageSizeBytes) p.MaxMessageSizeBytes = changes.MaxMessageSizeBytes;
        if (changes.HasAllowAutoTopicCreation) p.AllowAutoTopicCreation = changes.AllowAutoTopicCreation;
        if (changes.HasDeduplicationEnabled) p.DeduplicationEnabled = changes.DeduplicationEnabled;
        if (changes.HasNumberOfBundles) p.NumberOfBundles = changes.NumberOfBundles;
        p.Validate();
    }

    private async Task<T> Call<T>(Func<BrokerService, CancellationToken, Task<T>> call, ServerCallContext context)
    {
        using var ct = CancellationTokenSource.CreateLinkedTokenSource(context.CancellationToken, accessor.Stopping);
        try
        {
            return await call(accessor.Service, ct.Token).ConfigureAwait(false);
        }
        catch (Exception e) when (e is not RpcException)
        {
            if (e is OperationCanceledException && accessor.Stopping.IsCancellationRequested)
                throw ErrorMapper.ToRpcException(ErrorReason.ServiceNotReady, "broker is shutting down");
            if (ErrorMapper.IsServerSide(ErrorMapper.Reason(e))) logger.LogError(e, "Admin {Method} failed", context.Method);
            throw ErrorMapper.ToRpcException(e);
        }
    }
}
