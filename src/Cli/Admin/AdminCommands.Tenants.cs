using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Grpc.Core;
using Grpc.Net.Client;
using Pulsarish.Client;
using Pulsarish.Protocol.Admin;

namespace Pulsarish.Cli;

/// <summary><c>pulsarish admin tenants …</c>.</summary>
public static partial class AdminCommands
{
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
}
