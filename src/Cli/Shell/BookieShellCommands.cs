using System.CommandLine;
using System.Globalization;
using Pulsarish.Bookie.AutoRecovery;
using Pulsarish.Protocol.Errors;
using Pulsarish.Metadata;

namespace Pulsarish.Cli;

/// <summary>
/// The bookie shell under <c>pulsarish admin</c>: <c>bookies list | list-underreplicated | recover | decommission</c>
/// and <c>ledgers check</c>. Other command groups (broker admin) are added to the same <c>admin</c> command through
/// <see cref="GetOrCreateAdmin"/>. Exit codes: 0 ok, 1 failure (message on stderr), 2 bad usage.
/// </summary>
public static class BookieShellCommands
{
    private static readonly TimeSpan DefaultSessionTimeout = TimeSpan.FromSeconds(10);

    /// <summary>The root's <c>admin</c> command, created when missing.</summary>
    public static Command GetOrCreateAdmin(RootCommand root)
    {
        foreach (var sub in root.Subcommands)
        {
            if (sub.Name == "admin")
            {
                return sub;
            }
        }
        var admin = new Command("admin", "Administer the cluster");
        root.Subcommands.Add(admin);
        return admin;
    }

    /// <summary>Adds <c>admin bookies …</c> and <c>admin ledgers …</c> to the root's admin command.</summary>
    public static void AddTo(RootCommand root) => AddTo(GetOrCreateAdmin(root));

    /// <summary>Adds the <c>bookies</c> and <c>ledgers</c> subcommands to <paramref name="admin"/>.</summary>
    public static void AddTo(Command admin)
    {
        var bookies = new Command("bookies", "Bookies: registrations, re-replication, decommission");
        bookies.Subcommands.Add(ListBookies());
        bookies.Subcommands.Add(ListUnderReplicated());
        bookies.Subcommands.Add(Recover());
        bookies.Subcommands.Add(Decommission());
        admin.Subcommands.Add(bookies);
        var ledgers = new Command("ledgers", "Ledgers: replication check");
        ledgers.Subcommands.Add(CheckLedger());
        admin.Subcommands.Add(ledgers);
    }

    private static Option<string> MetadataUrl() => new("--metadata-url") { Description = "Metadata store URL", Required = true };

    private static Command ListBookies()
    {
        var url = new Option<string?>("--metadata-url") { Description = "Metadata store URL (default: ask the broker at --service-url)" };
        var command = new Command("list", "Registered bookies (id, address, rack, read-only)") { url };
        command.SetAction((parse, ct) => parse.GetValue(url) is null ? BrokerBookiesCommand.ListAsync(parse, ct) : WithAdminAsync(parse.GetValue(url)!, ct, async admin =>
        {
            foreach (var info in await admin.Registry.GetAvailableAsync(ct))
            {
                Console.Out.WriteLine($"{info.BookieId}\t{info.Address}\t{(info.Rack.Length == 0 ? "-" : info.Rack)}\t{(info.ReadOnly ? "read-only" : "writable")}");
            }
            return 0;
        }));
        return command;
    }

    private static Command ListUnderReplicated()
    {
        var url = MetadataUrl();
        var command = new Command("list-underreplicated", "Pending re-replication tasks: ledger, lost bookies, lock holder") { url };
        command.SetAction((parse, ct) => WithAdminAsync(parse.GetValue(url)!, ct, async admin =>
        {
            var tasks = await admin.ListUnderReplicatedAsync(ct);
            foreach (var (task, lockedBy) in tasks)
            {
                Console.Out.WriteLine($"{task.LedgerId}\t{string.Join(",", task.MissingBookies.Order(StringComparer.Ordinal))}\t{lockedBy ?? "-"}");
            }
            Console.Error.WriteLine($"{tasks.Count} under-replicated ledgers");
            return 0;
        }));
        return command;
    }

    private static Command Recover()
    {
        var url = MetadataUrl();
        var bookie = new Argument<string>("BOOKIE") { Description = "Bookie id" };
        var wait = new Option<int>("--wait-seconds") { Description = "Wait until no ledger references the bookie (0: just file tasks)", DefaultValueFactory = _ => 0 };
        var inline = new Option<bool>("--inline") { Description = "Copy in this process (a replication worker here) instead of leaving it to AutoRecovery" };
        var command = new Command("recover", "Re-replicate every ledger of a bookie now") { url, bookie, wait, inline };
        command.SetAction((parse, ct) => WithAdminAsync(parse.GetValue(url)!, ct, async admin =>
        {
            string id = parse.GetValue(bookie)!;
            int seconds = parse.GetValue(wait);
            await using var worker = parse.GetValue(inline)
                ? AutoRecoveryService.Start(admin.Store, new AutoRecoveryOptions(), $"admin-{Environment.ProcessId}", auditorCandidate: false)
                : null;
            var filed = await admin.RecoverBookieAsync(id, ct);
            Console.Out.WriteLine($"filed {filed.Count} ledgers of {id}: {string.Join(",", filed)}");
            if (seconds > 0 || worker is not null)
            {
                await admin.WaitUntilUnreferencedAsync(id, TimeSpan.FromSeconds(seconds > 0 ? seconds : 3600), ct);
                Console.Out.WriteLine($"no ledger references {id}");
            }
            return 0;
        }));
        return command;
    }

    private static Command Decommission()
    {
        var url = MetadataUrl();
        var bookie = new Argument<string>("BOOKIE") { Description = "Bookie id" };
        var timeout = new Option<int>("--timeout-seconds") { Description = "How long to wait for re-replication", DefaultValueFactory = _ => 3600 };
        var command = new Command("decommission", "Re-replicate a bookie's ledgers, then retire its id and cookie") { url, bookie, timeout };
        command.SetAction((parse, ct) => WithAdminAsync(parse.GetValue(url)!, ct, async admin =>
        {
            string id = parse.GetValue(bookie)!;
            await admin.DecommissionAsync(id, TimeSpan.FromSeconds(parse.GetValue(timeout)), ct);
            Console.Out.WriteLine($"bookie {id} decommissioned");
            return 0;
        }));
        return command;
    }

    private static Command CheckLedger()
    {
        var url = MetadataUrl();
        var ledger = new Argument<long>("LEDGER") { Description = "Ledger id" };
        var command = new Command("check", "Which entries of a ledger are missing on which bookie") { url, ledger };
        command.SetAction((parse, ct) => WithAdminAsync(parse.GetValue(url)!, ct, async admin =>
        {
            long id = parse.GetValue(ledger);
            var problems = await admin.CheckLedgerAsync(id, ct);
            foreach (var p in problems)
            {
                string what = p.Unavailable ? "bookie unavailable" : p.Unknown ? "no answer" : "missing";
                Console.Out.WriteLine(string.Create(CultureInfo.InvariantCulture,
                    $"fragment {p.FragmentIndex} [{p.FirstEntryId}..{p.LastEntryId}] {p.BookieId}: {what} {string.Join(",", p.Missing)}"));
            }
            Console.Out.WriteLine(problems.Count == 0 ? $"ledger {id}: fully replicated" : $"ledger {id}: {problems.Count} problems");
            return problems.Count == 0 ? 0 : 1;
        }));
        return command;
    }

    private static async Task<int> WithAdminAsync(string url, CancellationToken ct, Func<BookieRecoveryAdmin, Task<int>> action)
    {
        try
        {
            await using var store = await MetadataStoreFactory.CreateAsync(url, null, DefaultSessionTimeout, ct);
            await using var admin = new BookieRecoveryAdmin(store);
            return await action(admin);
        }
        catch (MetadataStoreBusyException e)
        {
            return CliErrors.Print(e.Reason, $"{e.Message}; stop it or use --service-url");
        }
        catch (PulsarishException e)
        {
            return CliErrors.Print(e.Reason, e.Message);
        }
        catch (Exception e) when (e is TimeoutException or ArgumentException)
        {
            return CliErrors.Print(e is TimeoutException ? "Timeout" : "BadArguments", e.Message);
        }
    }
}
