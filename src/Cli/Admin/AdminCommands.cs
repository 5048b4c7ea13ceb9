using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using Pulsarish.Client;
using Pulsarish.Protocol.Admin;

namespace Pulsarish.Cli;

/// <summary>
/// <c>pulsarish admin [--service-url host:port[,…]] [--output text|json] tenants|namespaces|topics|subscriptions|brokers …</c>:
/// the broker admin commands (proto/admin.proto). Topic-level commands look the topic's owner up first and talk to it.
/// Exit code 0 on success; on error a one-line message (<c>error: Reason: detail</c>) on stderr and exit code 1
/// (2 for bad arguments).
/// </summary>
public static class AdminCommands
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web) { WriteIndented = true };

    private static readonly Option<string> ServiceUrl = new("--service-url")
    {
        Description = "Broker address(es), comma-separated", DefaultValueFactory = _ => "127.0.0.1:6650", Recursive = true,
    };

    private static readonly Option<string> Output = new("--output")
    {
        Description = "text or json", DefaultValueFactory = _ => "text", Recursive = true,
    };

    /// <summary>Adds the broker admin groups to the root's <c>admin</c> command.</summary>
    public static void AddTo(RootCommand root)
    {
        var admin = BookieShellCommands.GetOrCreateAdmin(root);
        admin.Options.Add(ServiceUrl);
        admin.Options.Add(Output);
        admin.Subcommands.Add(Tenants());
        admin.Subcommands.Add(Namespaces());
        admin.Subcommands.Add(Topics());
        admin.Subcommands.Add(Subscriptions());
        admin.Subcommands.Add(Brokers());
    }

    // ---- tenants ----

    private static Command Tenants()
    {
        var group = new Command("tenants", "Tenants: list, create, delete");
        group.Subcommands.Add(Leaf("list", "List tenants", [], async (c, p, ct) =>
            Names(p, (await c.Admin().ListTenantsAsync(new AdminEmpty(), cancellationToken: ct)).Names)));
        var tenant = new Argument<string>("tenant");
        var ifNotExists = IfNotExists();
        group.Subcommands.Add(Leaf("create", "Create a tenant", [tenant, ifNotExists], async (c, p, ct) =>
            await Created(p, ifNotExists, () => c.Admin().CreateTenantAsync(new TenantRequest { Tenant = p.GetValue(tenant) }, cancellationToken: ct).ResponseAsync)));
        var toDelete = new Argument<string>("tenant");
        group.Subcommands.Add(Leaf("delete", "Delete an empty tenant", [toDelete], async (c, p, ct) =>
        {
            await c.Admin().DeleteTenantAsync(new TenantRequest { Tenant = p.GetValue(toDelete) }, cancellationToken: ct);
            return Ok(p);
        }));
        return group;
    }

    // ---- namespaces and policies ----

    private static Command Namespaces()
    {
        var group = new Command("namespaces", "Namespaces and their policies");
        var tenant = new Argument<string>("tenant");
        group.Subcommands.Add(Leaf("list", "List the namespaces of a tenant", [tenant], async (c, p, ct) =>
            Names(p, (await c.Admin().ListNamespacesAsync(new TenantRequest { Tenant = p.GetValue(tenant) }, cancellationToken: ct)).Names)));

        var ns = NamespaceArgument();
        var ifNotExists = IfNotExists();
        group.Subcommands.Add(Leaf("create", "Create a namespace (tenant/namespace)", [ns, ifNotExists], async (c, p, ct) =>
            await Created(p, ifNotExists, () => c.Admin().CreateNamespaceAsync(Ns(p, ns), cancellationToken: ct).ResponseAsync)));
        var toDelete = NamespaceArgument();
        group.Subcommands.Add(Leaf("delete", "Delete an empty namespace", [toDelete], async (c, p, ct) =>
        {
            await c.Admin().DeleteNamespaceAsync(Ns(p, toDelete), cancellationToken: ct);
            return Ok(p);
        }));
        var toUnload = NamespaceArgument();
        group.Subcommands.Add(Leaf("unload", "Release the namespace's bundles on every broker (topics move on next lookup)", [toUnload], async (c, p, ct) =>
        {
            var unloaded = new List<string>();
            foreach (var broker in await c.BrokerAddressesAsync(ct))
                unloaded.AddRange((await c.Admin(broker).UnloadNamespaceAsync(Ns(p, toUnload), cancellationToken: ct)).Names);
            return Names(p, unloaded);
        }));

        var policiesOf = NamespaceArgument();
        group.Subcommands.Add(Leaf("policies", "Show every policy of a namespace", [policiesOf], async (c, p, ct) =>
            Print(p, await c.Admin().GetPoliciesAsync(Ns(p, policiesOf), cancellationToken: ct))));

        group.Subcommands.Add(PolicyGet("get-persistence", "Persistence: ensemble, write and ack quorum",
            w => new { ensembleSize = Opt(w.HasEnsembleSize, w.EnsembleSize), writeQuorum = Opt(w.HasWriteQuorum, w.WriteQuorum), ackQuorum = Opt(w.HasAckQuorum, w.AckQuorum) }));
        group.Subcommands.Add(PolicyGet("get-retention", "Retention of acknowledged messages",
            w => new { retentionTimeMinutes = Opt(w.HasRetentionTimeMinutes, w.RetentionTimeMinutes), retentionSizeBytes = Opt(w.HasRetentionSizeBytes, w.RetentionSizeBytes) }));
        group.Subcommands.Add(PolicyGet("get-ttl", "Message TTL", w => new { messageTtlSeconds = Opt(w.HasMessageTtlSeconds, w.MessageTtlSeconds) }));
        group.Subcommands.Add(PolicyGet("get-max-message-size", "Largest message", w => new { maxMessageSizeBytes = Opt(w.HasMaxMessageSizeBytes, w.MaxMessageSizeBytes) }));

        var ensemble = new Option<int>("--ensemble-size", "-e") { Required = true };
        var writeQuorum = new Option<int>("--write-quorum", "-w") { Required = true };
        var ackQuorum = new Option<int>("--ack-quorum", "-a") { Required = true };
        group.Subcommands.Add(PolicySet("set-persistence", "Set E, Qw, Qa of new ledgers (E ≥ Qw ≥ Qa ≥ 1)", [ensemble, writeQuorum, ackQuorum], (p, w) =>
        {
            w.EnsembleSize = p.GetValue(ensemble);
            w.WriteQuorum = p.GetValue(writeQuorum);
            w.AckQuorum = p.GetValue(ackQuorum);
        }));
        var time = new Option<long>("--time-minutes") { Description = "Keep acknowledged messages this long (-1: forever)", Required = true };
        var size = new Option<long>("--size-mb") { Description = "Keep acknowledged messages up to this size (-1: unbounded)", Required = true };
        group.Subcommands.Add(PolicySet("set-retention", "Set the retention of acknowledged messages", [time, size], (p, w) =>
        {
            w.RetentionTimeMinutes = p.GetValue(time);
            long mb = p.GetValue(size);
            w.RetentionSizeBytes = mb < 0 ? -1 : mb * 1024 * 1024;
        }));
        var ttl = new Option<long>("--seconds") { Description = "Unacknowledged messages expire after this (0: never)", Required = true };
        group.Subcommands.Add(PolicySet("set-ttl", "Set the message TTL", [ttl], (p, w) => w.MessageTtlSeconds = p.GetValue(ttl)));
        var maxSize = new Option<int>("--bytes") { Required = true };
        group.Subcommands.Add(PolicySet("set-max-message-size", "Set the largest accepted message", [maxSize], (p, w) => w.MaxMessageSizeBytes = p.GetValue(maxSize)));
        return group;
    }

    private static Command PolicyGet(string name, string description, Func<NamespacePolicies, object> select)
    {
        var ns = NamespaceArgument();
        return Leaf(name, description, [ns], async (c, p, ct) =>
            Print(p, select(await c.Admin().GetPoliciesAsync(Ns(p, ns), cancellationToken: ct))));
    }

    private static Command PolicySet(string name, string description, Symbol[] options, Action<ParseResult, NamespacePolicies> fill)
    {
        var ns = NamespaceArgument();
        return Leaf(name, description, [ns, .. options], async (c, p, ct) =>
        {
            var changes = new NamespacePolicies();
            fill(p, changes);
            var request = new SetPoliciesRequest { Namespace = p.GetValue(ns), Policies = changes };
            return Print(p, await c.Admin().SetPoliciesAsync(request, cancellationToken: ct));
        });
    }

    // ---- topics ----

    private static Command Topics()
    {
        var group = new Command("topics", "Topics: list, create, delete, stats, unload");
        var ns = NamespaceArgument();
        group.Subcommands.Add(Leaf("list", "List the topics of a namespace", [ns], async (c, p, ct) =>
            Names(p, (await c.Admin().ListTopicsAsync(Ns(p, ns), cancellationToken: ct)).Names)));

        var create = TopicArgument();
        group.Subcommands.Add(Leaf("create", "Create a non-partitioned topic", [create], async (c, p, ct) =>
        {
            var topic = p.GetValue(create)!;
            await (await c.OwnerAsync(topic, ct)).CreateTopicAsync(new TopicRequest { Topic = topic }, cancellationToken: ct);
            return Ok(p);
        }));
        var partitioned = TopicArgument();
        var partitions = new Option<int>("--partitions", "-p") { Required = true };
        group.Subcommands.Add(Leaf("create-partitioned", "Create a partitioned topic", [partitioned, partitions], async (c, p, ct) =>
        {
            await c.Admin().CreatePartitionedTopicAsync(new CreatePartitionedTopicRequest
            {
                Topic = p.GetValue(partitioned), Partitions = p.GetValue(partitions),
            }, cancellationToken: ct);
            return Ok(p);
        }));
        var delete = TopicArgument();
        var force = new Option<bool>("--force", "-f") { Description = "Delete even with producers, consumers or subscriptions" };
        group.Subcommands.Add(Leaf("delete", "Delete a topic and its data", [delete, force], async (c, p, ct) =>
        {
            var topic = p.GetValue(delete)!;
            var request = new DeleteTopicRequest { Topic = topic, Force = p.GetValue(force) };
            await (await c.OwnerAsync(topic, ct)).DeleteTopicAsync(request, cancellationToken: ct);
            return Ok(p);
        }));
        var stats = TopicArgument();
        group.Subcommands.Add(Leaf("stats", "Rates, backlog, producers, subscriptions", [stats], async (c, p, ct) =>
            PrintJson((await (await c.OwnerAsync(p.GetValue(stats)!, ct)).GetTopicStatsAsync(new TopicRequest { Topic = p.GetValue(stats) }, cancellationToken: ct)).Json)));
        var internalStats = TopicArgument();
        group.Subcommands.Add(Leaf("internal-stats", "Ledgers and cursors of the managed ledger", [internalStats], async (c, p, ct) =>
            PrintJson((await (await c.OwnerAsync(p.GetValue(internalStats)!, ct)).GetTopicInternalStatsAsync(new TopicRequest { Topic = p.GetValue(internalStats) }, cancellationToken: ct)).Json)));
        var unload = TopicArgument();
        group.Subcommands.Add(Leaf("unload", "Unload a topic from its broker", [unload], async (c, p, ct) =>
        {
            var topic = p.GetValue(unload)!;
            await (await c.OwnerAsync(topic, ct)).UnloadTopicAsync(new TopicRequest { Topic = topic }, cancellationToken: ct);
            return Ok(p);
        }));
        return group;
    }

    // ---- subscriptions ----

    private static Command Subscriptions()
    {
        var group = new Command("subscriptions", "Subscriptions: list, create, delete, reset-cursor, skip");
        var listTopic = TopicArgument();
        group.Subcommands.Add(Leaf("list", "List the subscriptions of a topic", [listTopic], async (c, p, ct) =>
        {
            var topic = p.GetValue(listTopic)!;
            return Names(p, (await (await c.OwnerAsync(topic, ct)).ListSubscriptionsAsync(new TopicRequest { Topic = topic }, cancellationToken: ct)).Names);
        }));

        var createTopic = TopicArgument();
        var createName = SubscriptionOption();
        var earliest = new Option<bool>("--earliest") { Description = "Start at the first message (default: the end)" };
        group.Subcommands.Add(Leaf("create", "Create a subscription", [createTopic, createName, earliest], async (c, p, ct) =>
        {
            var topic = p.GetValue(createTopic)!;
            var request = new SubscriptionRequest { Topic = topic, Subscription = p.GetValue(createName), Earliest = p.GetValue(earliest) };
            await (await c.OwnerAsync(topic, ct)).CreateSubscriptionAsync(request, cancellationToken: ct);
            return Ok(p);
        }));
        var deleteTopic = TopicArgument();
        var deleteName = SubscriptionOption();
        group.Subcommands.Add(Leaf("delete", "Delete a subscription (no consumer may be connected)", [deleteTopic, deleteName], async (c, p, ct) =>
        {
            var topic = p.GetValue(deleteTopic)!;
            await (await c.OwnerAsync(topic, ct)).DeleteSubscriptionAsync(new SubscriptionRequest { Topic = topic, Subscription = p.GetValue(deleteName) }, cancellationToken: ct);
            return Ok(p);
        }));
        var resetTopic = TopicArgument();
        var resetName = SubscriptionOption();
        var publishTime = new Option<string?>("--time") { Description = "First message published at or after this time (ISO 8601 or Unix milliseconds)" };
        var messageId = new Option<string?>("--message-id") { Description = "ledgerId:entryId of the next message to deliver" };
        group.Subcommands.Add(Leaf("reset-cursor", "Move a subscription to a time or message", [resetTopic, resetName, publishTime, messageId], async (c, p, ct) =>
        {
            var topic = p.GetValue(resetTopic)!;
            var request = new ResetCursorRequest { Topic = topic, Subscription = p.GetValue(resetName) };
            if (p.GetValue(messageId) is { } id) request.MessageId = id;
            else if (p.GetValue(publishTime) is { } t) request.PublishTimeMillis = ParseTime(t);
            else throw new ArgumentException("give --time or --message-id");
            await (await c.OwnerAsync(topic, ct)).ResetCursorAsync(request, cancellationToken: ct);
            return Ok(p);
        }));
        var skipTopic = TopicArgument();
        var skipName = SubscriptionOption();
        var count = new Option<long>("--count", "-n") { Required = true };
        group.Subcommands.Add(Leaf("skip", "Acknowledge the next N messages of a subscription", [skipTopic, skipName, count], async (c, p, ct) =>
        {
            var topic = p.GetValue(skipTopic)!;
            var answer = await (await c.OwnerAsync(topic, ct)).SkipMessagesAsync(new SkipMessagesRequest
            {
                Topic = topic, Subscription = p.GetValue(skipName), Count = p.GetValue(count),
            }, cancellationToken: ct);
            return Print(p, new { skipped = answer.Skipped });
        }));
        return group;
    }

    // ---- brokers ----

    private static Command Brokers()
    {
        var group = new Command("brokers", "Brokers");
        group.Subcommands.Add(Leaf("list", "Live brokers and their load", [], async (c, p, ct) =>
        {
            string json = (await c.Admin().ListBrokersAsync(new AdminEmpty(), cancellationToken: ct)).Json;
            if (p.GetValue(Output) == "json") return PrintJson(json);
            using var doc = System.Text.Json.JsonDocument.Parse(json);
            foreach (var broker in doc.RootElement.EnumerateArray())
            {
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"{broker.GetProperty("brokerId").GetString()}\t{broker.GetProperty("address").GetString()}\tbundles={broker.GetProperty("bundleCount").GetInt32()}\ttopics={broker.GetProperty("topicCount").GetInt32()}"));
            }
            return 0;
        }));
        return group;
    }

    // ---- plumbing ----

    private static Command Leaf(string name, string description, Symbol[] symbols, Func<AdminConnection, ParseResult, CancellationToken, Task<int>> run)
    {
        var command = new Command(name, description);
        foreach (var symbol in symbols)
        {
            if (symbol is Argument argument) command.Arguments.Add(argument);
            else command.Options.Add((Option)symbol);
        }
        command.SetAction(async (parse, ct) =>
        {
            await using var connection = new AdminConnection(parse.GetValue(ServiceUrl)!);
            try
            {
                return await run(connection, parse, ct);
            }
            catch (RpcException e)
            {
                string reason = e.Trailers.GetValue("reason") ?? e.StatusCode.ToString();
                await Console.Error.WriteLineAsync($"error: {reason}: {e.Status.Detail}");
                return 1;
            }
            catch (PulsarishClientException e)
            {
                await Console.Error.WriteLineAsync($"error: {e.ErrorReason}: {e.Message}");
                return 1;
            }
            catch (Exception e) when (e is ArgumentException or FormatException)
            {
                await Console.Error.WriteLineAsync($"error: BadArguments: {e.Message}");
                return 2;
            }
        });
        return command;
    }

    private static async Task<int> Created(ParseResult p, Option<bool> ifNotExists, Func<Task<AdminEmpty>> create)
    {
        try
        {
            await create();
        }
        catch (RpcException e) when (p.GetValue(ifNotExists) && e.StatusCode == StatusCode.AlreadyExists
                                     || p.GetValue(ifNotExists) && e.Status.Detail.Contains("already exists", StringComparison.Ordinal))
        {
            // Idempotent create (init containers, scripts).
        }
        return Ok(p);
    }

    private static int Ok(ParseResult p)
    {
        if (p.GetValue(Output) == "json") Console.Out.WriteLine("{\"ok\":true}");
        return 0;
    }

    private static int Names(ParseResult p, IEnumerable<string> names)
    {
        if (p.GetValue(Output) == "json") Console.Out.WriteLine(JsonSerializer.Serialize(names, Json));
        else foreach (var n in names) Console.Out.WriteLine(n);
        return 0;
    }

    private static int Print(ParseResult p, object value)
    {
        string json = value is NamespacePolicies policies
            ? Google.Protobuf.JsonFormatter.Default.Format(policies)
            : JsonSerializer.Serialize(value, Json);
        if (p.GetValue(Output) == "json")
        {
            Console.Out.WriteLine(json);
            return 0;
        }
        using var doc = System.Text.Json.JsonDocument.Parse(json);
        foreach (var property in doc.RootElement.EnumerateObject()) Console.Out.WriteLine($"{property.Name}: {property.Value}");
        return 0;
    }

    private static int PrintJson(string json)
    {
        Console.Out.WriteLine(json);
        return 0;
    }

    private static object? Opt<T>(bool has, T value) => has ? value : null;

    private static long ParseTime(string text)
    {
        if (long.TryParse(text, NumberStyles.Integer, CultureInfo.InvariantCulture, out long millis)) return millis;
        return DateTimeOffset.Parse(text, CultureInfo.InvariantCulture, DateTimeStyles.AssumeUniversal).ToUnixTimeMilliseconds();
    }

    private static Option<bool> IfNotExists() => new("--if-not-exists") { Description = "Succeed when it already exists" };

    private static Argument<string> NamespaceArgument() => new("namespace") { Description = "tenant/namespace" };

    private static Argument<string> TopicArgument() => new("topic") { Description = "persistent://tenant/namespace/name or a short name" };

    private static Option<string> SubscriptionOption() => new("--subscription", "-s") { Required = true };

    private static NamespaceRequest Ns(ParseResult p, Argument<string> ns) => new() { Namespace = p.GetValue(ns) };

    /// <summary>Channels to the service URL's first broker and to topic owners; disposed with the command.</summary>
    private sealed class AdminConnection(string serviceUrl) : IAsyncDisposable
    {
        private readonly string[] _urls = serviceUrl.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
        private readonly Dictionary<string, GrpcChannel> _channels = new(StringComparer.OrdinalIgnoreCase);
        private PulsarishClient? _client;

        public PulsarishAdmin.PulsarishAdminClient Admin(string? address = null)
        {
            address ??= _urls.Length > 0 ? _urls[0] : throw new ArgumentException("empty --service-url");
            if (!_channels.TryGetValue(address, out var channel))
            {
                channel = GrpcChannel.ForAddress(address.Contains("://", StringComparison.Ordinal) ? address : "http://" + address);
                _channels[address] = channel;
            }
            return new PulsarishAdmin.PulsarishAdminClient(channel);
        }

        /// <summary>The admin client of the broker that owns <paramref name="topic"/> (lookup with redirects).</summary>
        public async Task<PulsarishAdmin.PulsarishAdminClient> OwnerAsync(string topic, CancellationToken ct)
        {
            _client ??= new PulsarishClient(_urls);
            return Admin(await _client.LookupAsync(topic, ct));
        }

        /// <summary>Every live broker's address; the service URL's brokers when none is registered (standalone).</summary>
        public async Task<IReadOnlyList<string>> BrokerAddressesAsync(CancellationToken ct)
        {
            string json = (await Admin().ListBrokersAsync(new AdminEmpty(), cancellationToken: ct)).Json;
            using var doc = System.Text.Json.JsonDocument.Parse(json);
            var addresses = doc.RootElement.EnumerateArray().Select(b => b.GetProperty("address").GetString()!).ToList();
            return addresses.Count > 0 ? addresses : _urls;
        }

        public async ValueTask DisposeAsync()
        {
            if (_client is not null) await _client.DisposeAsync();
            foreach (var channel in _channels.Values) channel.Dispose();
        }
    }
}
