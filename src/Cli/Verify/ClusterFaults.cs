using System.Diagnostics;
using System.Globalization;
using Pulsarish.Hosting.Supervisor;
using Pulsarish.Metadata;

namespace Pulsarish.Cli.Verify;

/// <summary>One fault of <c>verify run</c>: its name and, for <c>kill-bookies:N</c>, how many.</summary>
public sealed record FaultSpec(string Kind, int Count = 1)
{
    /// <summary>The faults <c>verify run</c> can inject.</summary>
    public static readonly IReadOnlyList<string> Kinds =
    [
        "kill-broker", "kill-bookie", "kill-bookies", "pause-broker", "pause-bookie", "kill-zookeeper", "rolling-restart", "torn-journal",
        "isolate-broker-from-zookeeper", "isolate-bookie-from-zookeeper",
    ];

    public override string ToString() => Kind == "kill-bookies" ? $"kill-bookies:{Count}" : Kind;

    /// <summary>Parses a comma-separated list; throws <see cref="FormatException"/> naming the bad item.</summary>
    public static List<FaultSpec> ParseList(string text)
    {
        var list = new List<FaultSpec>();
        foreach (var item in text.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries))
        {
            var parts = item.Split(':');
            if (!Kinds.Contains(parts[0]))
                throw new FormatException($"unknown fault '{item}' (known: {string.Join(", ", Kinds)}; kill-bookies takes :N)");
            int count = 1;
            if (parts.Length == 2 && parts[0] == "kill-bookies"
                && int.TryParse(parts[1], NumberStyles.None, CultureInfo.InvariantCulture, out count) && count >= 1)
            {
                list.Add(new FaultSpec(parts[0], count));
            }
            else if (parts.Length == 1)
            {
                list.Add(new FaultSpec(parts[0], parts[0] == "kill-bookies" ? 2 : 1));
            }
            else
            {
                throw new FormatException($"bad fault '{item}' (only kill-bookies takes :N with N ≥ 1)");
            }
        }
        if (list.Count == 0) throw new FormatException("no fault given");
        return list;
    }
}

/// <summary>What an injected fault did: its target and when it started and healed (produce clock, ms).</summary>
public sealed record FaultOutcome(string Target, long InjectedAtMillis, long HealedAtMillis);

/// <summary>
/// Injects faults into a cluster run by <c>pulsarish cluster up</c>, by PID from its cluster.json. Killed members are
/// restarted by the supervisor (after its back-off, which doubles for a member that crashes again within its stable
/// run time), so healing a kill means waiting until the member runs again under a new PID and says it is ready.
/// A paused member must be resumed before the supervisor's heartbeat timeout, or the supervisor kills it.
/// </summary>
public sealed class ClusterFaults(string dataDir, VerifyAdmin admin, Random random, TimeSpan pause, Action<string> log)
{
    /// <summary>How long a restarted member may take to be ready again (back-off up to 30 s plus start-up).</summary>
    public static readonly TimeSpan HealTimeout = TimeSpan.FromSeconds(150);

    public ClusterStatus Status() =>
        ClusterSupervisor.ReadStatus(dataDir) ?? throw new InvalidOperationException($"no cluster.json in {dataDir}");

    /// <summary>Every member running, ready and with a PID (registered in ZooKeeper is the members' own business).</summary>
    public async Task<bool> WaitHealthyAsync(TimeSpan timeout, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        while (sw.Elapsed < timeout)
        {
            var status = ClusterSupervisor.ReadStatus(dataDir);
            if (status is not null && status.Members.Count > 0
                && status.Members.All(m => m.State == ChildState.Running && m.Ready && m.Pid is not null))
            {
                return true;
            }
            await Task.Delay(200, ct);
        }
        return false;
    }

    /// <summary>Injects <paramref name="fault"/> on <paramref name="topic"/>'s owner or ledger ensemble and heals it.</summary>
    public async Task<FaultOutcome> InjectAsync(FaultSpec fault, string topic, Func<long> clock, CancellationToken ct)
    {
        switch (fault.Kind)
        {
            case "kill-broker":
            {
                var owner = await OwnerAsync(topic, ct);
                long at = clock();
                Kill(owner, Signals.Kill);
                await WaitRestartedAsync([owner], ct);
                return new FaultOutcome(owner.Name, at, clock());
            }
            case "kill-bookie":
            case "kill-bookies":
            case "torn-journal":
            {
                var ensemble = await EnsembleAsync(topic, ct);
                int count = fault.Kind switch { "kill-bookie" => 1, "torn-journal" => ensemble.Count, _ => fault.Count };
                var victims = Pick(ensemble, count);
                long at = clock();
                foreach (var victim in victims) Kill(victim, Signals.Kill);
                await WaitRestartedAsync(victims, ct);
                return new FaultOutcome(string.Join('+', victims.Select(v => v.Name)), at, clock());
            }
            case "pause-broker":
            case "pause-bookie":
            {
                var victim = fault.Kind == "pause-broker" ? await OwnerAsync(topic, ct) : Pick(await EnsembleAsync(topic, ct), 1)[0];
                long at = clock();
                Kill(victim, Signals.Stop);
                try
                {
                    await Task.Delay(pause, ct);
                }
                finally
                {
                    Signals.Send(victim.Pid!.Value, Signals.Continue);
                }
                log($"resumed {victim.Name} after {pause.TotalMilliseconds:0} ms");
                return new FaultOutcome(victim.Name, at, clock());
            }
            case "isolate-broker-from-zookeeper":
            case "isolate-bookie-from-zookeeper":
            {
                if (!Status().FaultProxies)
                    throw new InvalidOperationException("the cluster runs without fault proxies: start it with 'cluster up --fault-proxies'");
                var victim = fault.Kind == "isolate-broker-from-zookeeper" ? await OwnerAsync(topic, ct) : Pick(await EnsembleAsync(topic, ct), 1)[0];
                string flag = MemberFaultProxy.FlagPath(dataDir, victim.Name);
                long at = clock();
                await File.WriteAllTextAsync(flag, "isolated by pulsarish verify run\n", ct);
                log($"isolated {victim.Name} from ZooKeeper ({flag})");
                try
                {
                    await Task.Delay(pause, ct);
                }
                finally
                {
                    File.Delete(flag);
                }
                log($"reconnected {victim.Name} to ZooKeeper after {pause.TotalMilliseconds:0} ms");
                // A member whose session expired re-joins by itself (DESIGN §7); it is healed once it serves again.
                await WaitHealthyAsync(HealTimeout, ct);
                return new FaultOutcome(victim.Name, at, clock());
            }
            case "kill-zookeeper":
            {
                var zk = Status().Members.SingleOrDefault(m => m.Role == "zookeeper")
                         ?? throw new InvalidOperationException("the cluster runs no ZooKeeper of its own (--zookeeper was given)");
                long at = clock();
                // The member is a guard shell; the server is its java child. Killing java makes the guard exit too.
                var java = Signals.Descendants(zk.Pid!.Value).ToList();
                foreach (int pid in java) Signals.Send(pid, Signals.Kill);
                if (java.Count == 0) Kill(zk, Signals.Kill);
                log($"killed zookeeper (pids {string.Join(',', java.Append(zk.Pid.Value))})");
                await WaitRestartedAsync([zk], ct);
                return new FaultOutcome("zookeeper", at, clock());
            }
            case "rolling-restart":
            {
                long at = clock();
                var members = Status().Members.Where(m => m.Role is "bookie" or "broker").OrderBy(m => m.Role == "broker").ToList();
                foreach (var member in members)
                {
                    var current = Status().Members.Single(m => m.Name == member.Name);
                    Kill(current, Signals.Term);
                    await WaitRestartedAsync([current], ct);
                }
                return new FaultOutcome(string.Join('>', members.Select(m => m.Name)), at, clock());
            }
            default:
                throw new ArgumentException($"unknown fault {fault}");
        }
    }

    private List<ClusterMemberStatus> Pick(List<ClusterMemberStatus> candidates, int count)
    {
        var pool = candidates.ToList();
        if (count > pool.Count)
        {
            // kill-bookies:N beyond the ensemble: more bookies outside it.
            pool.AddRange(Status().Members.Where(m => m.Role == "bookie" && candidates.All(c => c.Name != m.Name)).OrderBy(_ => random.Next()));
        }
        var chosen = new List<ClusterMemberStatus>();
        while (chosen.Count < count && pool.Count > 0)
        {
            int i = chosen.Count < candidates.Count ? random.Next(Math.Min(candidates.Count, pool.Count)) : 0;
            chosen.Add(pool[i]);
            pool.RemoveAt(i);
        }
        return chosen;
    }

    private async Task<ClusterMemberStatus> OwnerAsync(string topic, CancellationToken ct)
    {
        string owner = await admin.OwnerAsync(topic, ct);
        return Status().Members.SingleOrDefault(m => m.Role == "broker" && m.Address == owner)
               ?? throw new InvalidOperationException($"the owner of {topic}, {owner}, is not a member of the cluster in {dataDir}");
    }

    /// <summary>The bookies of the current ledger's last fragment (ledger metadata from ZooKeeper).</summary>
    private async Task<List<ClusterMemberStatus>> EnsembleAsync(string topic, CancellationToken ct)
    {
        var status = Status();
        var (_, ledgerId) = await admin.InternalStatsAsync(topic, ct);
        if (ledgerId < 0) throw new InvalidOperationException($"{topic} has no open ledger now");
        await using var store = await MetadataStoreFactory.CreateAsync(status.MetadataUrl, null, TimeSpan.FromSeconds(10), ct);
        var metadata = await new LedgerMetadataStore(store).ReadAsync(ledgerId, ct)
                       ?? throw new InvalidOperationException($"ledger {ledgerId} of {topic} has no metadata");
        var bookies = metadata.Metadata.Fragments[^1].Bookies;
        var members = status.Members.Where(m => m.Role == "bookie" && bookies.Contains(m.Address)).ToList();
        if (members.Count == 0) throw new InvalidOperationException($"no member of the cluster serves ledger {ledgerId}'s ensemble {string.Join(',', bookies)}");
        log($"{topic}: ledger {ledgerId} on {string.Join(',', members.Select(m => m.Name))}");
        return members;
    }

    private void Kill(ClusterMemberStatus member, int signal)
    {
        if (member.Pid is not int pid) throw new InvalidOperationException($"{member.Name} is not running");
        if (!Signals.Send(pid, signal)) throw new InvalidOperationException($"{member.Name} (pid {pid}) is gone");
        log($"signal {signal} to {member.Name} (pid {pid})");
    }

    /// <summary>Until each member runs again under another PID (or restarted) and is ready.</summary>
    private async Task WaitRestartedAsync(IReadOnlyList<ClusterMemberStatus> before, CancellationToken ct)
    {
        var sw = Stopwatch.StartNew();
        while (true)
        {
            var status = ClusterSupervisor.ReadStatus(dataDir);
            if (status is not null && before.All(b => status.Members.SingleOrDefault(m => m.Name == b.Name) is
                    { State: ChildState.Running, Ready: true, Pid: int pid } now && (pid != b.Pid || now.Restarts > b.Restarts)))
            {
                return;
            }
            if (sw.Elapsed > HealTimeout)
                throw new TimeoutException($"{string.Join(", ", before.Select(b => b.Name))} not running again after {HealTimeout.TotalSeconds:0} s");
            await Task.Delay(100, ct);
        }
    }
}
