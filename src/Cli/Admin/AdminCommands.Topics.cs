using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using Pulsarish.Client;
using Pulsarish.Protocol.Admin;

namespace Pulsarish.Cli;

/// <summary><c>pulsarish admin topics …</c>.</summary>
public static partial class AdminCommands
{
    private static Command Topics()
    {
        var group = new Command("topics", "Topics: list, create, delete, stats, unload");
        var ns = NamespaceArgument();
        group.Subcommands.Add(Leaf("list", "List the topics of a namespace (every partition of partitioned topics)", [ns], async (c, p, ct) =>
            Names(p, (await c.Admin().ListTopicsAsync(Ns(p, ns), cancellationToken: ct)).Names)));
        var partitionedNs = NamespaceArgument();
        group.Subcommands.Add(Leaf("list-partitioned-topics", "List the partitioned topics of a namespace", [partitionedNs], async (c, p, ct) =>
            Names(p, (await c.Admin().ListPartitionedTopicsAsync(Ns(p, partitionedNs), cancellationToken: ct)).Names)));

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
}
