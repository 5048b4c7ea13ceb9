using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using Pulsarish.Client;
using Pulsarish.Protocol.Admin;

namespace Pulsarish.Cli;

/// <summary><c>pulsarish admin namespaces …</c>: namespaces and their policies.</summary>
public static partial class AdminCommands
{
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
            NamespacePolicies.EnsembleSizeFieldNumber, NamespacePolicies.WriteQuorumFieldNumber, NamespacePolicies.AckQuorumFieldNumber));
        group.Subcommands.Add(PolicyGet("get-retention", "Retention of acknowledged messages",
            NamespacePolicies.RetentionTimeMinutesFieldNumber, NamespacePolicies.RetentionSizeBytesFieldNumber));
        group.Subcommands.Add(PolicyGet("get-ttl", "Message TTL (0: never)", NamespacePolicies.MessageTtlSecondsFieldNumber));
        group.Subcommands.Add(PolicyGet("get-max-message-size", "Largest message", NamespacePolicies.MaxMessageSizeBytesFieldNumber));

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
        group.Subcommands.Add(PolicyGet("get-delayed-delivery", "Whether Shared/Key_Shared subscriptions hold delayed messages until due",
            NamespacePolicies.DelayedDeliveryEnabledFieldNumber));
        var delayedOn = new Option<bool>("--enable") { Description = "Hold delayed messages until due" };
        var delayedOff = new Option<bool>("--disable") { Description = "Deliver delayed messages at once" };
        group.Subcommands.Add(PolicySet("set-delayed-delivery", "Enable (--enable) or disable (--disable) delayed delivery", [delayedOn, delayedOff],
            (p, w) => w.DelayedDeliveryEnabled = DelayedDeliverySwitch(p.GetValue(delayedOn), p.GetValue(delayedOff))));
        return group;
    }

    /// <summary>
    /// A getter of policy fields: each field's effective value, marked "(broker default)" when the namespace does
    /// not set it (JSON: the values and a <c>brokerDefault</c> list of those fields).
    /// </summary>
    private static Command PolicyGet(string name, string description, params int[] fieldNumbers)
    {
        var ns = NamespaceArgument();
        return Leaf(name, description + "; unset fields show the broker default", [ns], async (c, p, ct) =>
        {
            var set = await c.Admin().GetPoliciesAsync(Ns(p, ns), cancellationToken: ct);
            var effective = await c.Admin().GetEffectivePoliciesAsync(Ns(p, ns), cancellationToken: ct);
            var values = new Dictionary<string, object?>();
            var defaults = new List<string>();
            foreach (int number in fieldNumbers)
            {
                var field = NamespacePolicies.Descriptor.FindFieldByNumber(number);
                values[field.JsonName] = field.Accessor.GetValue(effective);
                if (!field.Accessor.HasValue(set)) defaults.Add(field.JsonName);
            }
            if (p.GetValue(Output) == "json")
            {
                values["brokerDefault"] = defaults;
                Console.Out.WriteLine(JsonSerializer.Serialize(values, Json));
                return 0;
            }
            foreach (var (field, value) in values)
                Console.Out.WriteLine(defaults.Contains(field) ? $"{field}: {value} (broker default)" : $"{field}: {value}");
            return 0;
        });
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

    /// <summary>Exactly one of --enable and --disable (Pulsar's set-delayed-delivery takes --enable or --disable).</summary>
    private static bool DelayedDeliverySwitch(bool enable, bool disable) => enable != disable
        ? enable
        : throw new ArgumentException("give exactly one of --enable and --disable");
}
