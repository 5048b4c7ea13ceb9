using System.CommandLine;
using System.Globalization;
using System.Text.Json;

namespace Pulsarish.Cli.Verify;

/// <summary>One row of the results table of <c>verify run</c>.</summary>
public sealed record VerifyRunRow(
    int Run, string Fault, string Target, int Seed, string Dedup, long FaultAtMillis, long Acked, long Lost, long Reordered,
    long Duplicates, long UnacknowledgedPresent, long Phantoms, long Errors, long WriteGapMillis, long? RecoverMillis,
    string Verdict, string? Reason)
{
    public const string TableHeader =
        "| run | fault | target | seed | dedup | fault at ms | acked | lost | reordered | duplicates | unacked-present | phantoms | send errors | write gap ms | recover ms | verdict |\n"
        + "|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|---|";

    public string ToMarkdown() => string.Create(CultureInfo.InvariantCulture,
        $"| {Run} | {Fault} | {Target} | {Seed} | {Dedup} | {FaultAtMillis} | {Acked} | {Lost} | {Reordered} | {Duplicates} | {UnacknowledgedPresent} | {Phantoms} | {Errors} | {WriteGapMillis} | {(RecoverMillis is long r ? r.ToString(CultureInfo.InvariantCulture) : "never")} | {Verdict}{(Reason is null ? "" : ": " + Reason.Replace('|', '/'))} |");
}

/// <summary>
/// <c>pulsarish verify run --faults LIST --runs N --duration 60s</c> against a cluster of <c>pulsarish cluster up</c>
/// (its cluster.json): for each fault, N runs of produce → one fault at a seeded random moment → heal → check, each
/// appending a row to a markdown results table (and a JSON line). Exit 1 when a run failed, 2 when one was
/// inconclusive, else 0.
/// </summary>
public static class VerifyRunCommand
{
    private static readonly JsonSerializerOptions Json = new(JsonSerializerDefaults.Web);

    /// <summary>How long writes go on after a fault healed.</summary>
    private const long ResumeWindowMillis = 5000;

    public static Command Create()
    {
        var data = new Option<string>("--data") { Description = "Data directory of 'pulsarish cluster up' (holds cluster.json)", DefaultValueFactory = _ => "./data/cluster" };
        var faults = new Option<string>("--faults") { Description = $"Comma-separated: {string.Join(", ", FaultSpec.Kinds)} (kill-bookies:N)", Required = true };
        var runs = new Option<int>("--runs") { Description = "Runs per fault", DefaultValueFactory = _ => 1 };
        var duration = new Option<string>("--duration", "-d") { Description = "Produce time per run", DefaultValueFactory = _ => "60s" };
        var rate = new Option<int>("--rate", "-r") { Description = "Messages per second over all producers", DefaultValueFactory = _ => 200 };
        var producers = new Option<int>("--producers", "-k") { Description = "Producers", DefaultValueFactory = _ => 2 };
        var seed = new Option<int?>("--seed") { Description = "Seed of the fault moments and targets (default: random, printed)" };
        var dedup = new Option<string>("--dedup") { Description = "on, off, or both (alternating runs)", DefaultValueFactory = _ => "both" };
        var ns = new Option<string>("--namespace") { Description = "Namespace of the test topics (created; its de-duplication policy is set per run)", DefaultValueFactory = _ => "public/verify" };
        var results = new Option<string?>("--results") { Description = "Markdown table to append to (default: <data>/verify/results.md)" };
        var pauseMs = new Option<int?>("--pause-ms") { Description = "How long pause-* faults freeze a member (default: session timeout + 2 s)" };
        var url = new Option<string?>("--service-url") { Description = "Brokers (default: those of cluster.json)" };
        var command = new Command("run", "Produce, inject one fault, heal, check — repeated per fault — against a 'pulsarish cluster up' cluster")
        {
            data, faults, runs, duration, rate, producers, seed, dedup, ns, results, pauseMs, url,
        };
        command.SetAction(async (parse, ct) =>
        {
            string dataDir = Path.GetFullPath(parse.GetValue(data)!);
            List<FaultSpec> faultList;
            TimeSpan runTime;
            try
            {
                faultList = FaultSpec.ParseList(parse.GetValue(faults)!);
                runTime = VerifyCommand.ParseDuration(parse.GetValue(duration)!);
            }
            catch (FormatException e)
            {
                return CliErrors.BadArguments(e.Message);
            }
            string dedupMode = parse.GetValue(dedup)!;
            if (dedupMode is not ("on" or "off" or "both")) return CliErrors.BadArguments("--dedup is on, off or both");
            if (parse.GetValue(runs) < 1 || parse.GetValue(rate) < 1 || parse.GetValue(producers) < 1)
                return CliErrors.BadArguments("--runs, --rate and --producers must be positive");
            var status = Hosting.Supervisor.ClusterSupervisor.ReadStatus(dataDir);
            if (status is null) return CliErrors.Print("NoCluster", $"no cluster.json in {dataDir}: start one with 'pulsarish cluster up --data {dataDir}'");
            int masterSeed = parse.GetValue(seed) ?? Random.Shared.Next();
            var pause = parse.GetValue(pauseMs) is int p ? TimeSpan.FromMilliseconds(p)
                : status.MetadataSessionTimeoutMillis > 0 ? TimeSpan.FromMilliseconds(status.MetadataSessionTimeoutMillis + 2000) : TimeSpan.FromSeconds(8);
            if (status.HeartbeatTimeoutMillis > 0 && pause.TotalMilliseconds >= status.HeartbeatTimeoutMillis
                && faultList.Any(f => f.Kind.StartsWith("pause", StringComparison.Ordinal)))
            {
                Console.Out.WriteLine($"warning: a {pause.TotalMilliseconds:0} ms pause outlasts the supervisor's heartbeat timeout of {status.HeartbeatTimeoutMillis} ms: "
                                      + "the supervisor will kill the paused member (start the cluster with a larger --heartbeat-timeout-ms)");
            }
            string serviceUrl = parse.GetValue(url) ?? string.Join(',', status.Brokers);
            string resultsPath = Path.GetFullPath(parse.GetValue(results) ?? Path.Combine(dataDir, "verify", "results.md"));
            string workDir = Path.Combine(Path.GetDirectoryName(resultsPath)!, DateTime.UtcNow.ToString("yyyyMMdd-HHmmss", CultureInfo.InvariantCulture));
            Directory.CreateDirectory(workDir);
            Console.Out.WriteLine($"verify run: seed {masterSeed}, faults {string.Join(',', faultList)}, {parse.GetValue(runs)} run(s) each of {runTime.TotalSeconds:0} s, "
                                  + $"pause {pause.TotalMilliseconds:0} ms, brokers {serviceUrl}, ack logs in {workDir}");
            bool newTable = !File.Exists(resultsPath);
            await using (var table = new StreamWriter(resultsPath, append: true))
            {
                if (newTable) await table.WriteLineAsync(VerifyRunRow.TableHeader);
                await table.WriteLineAsync($"| | started {DateTime.UtcNow:yyyy-MM-dd HH:mm}Z, seed {masterSeed}, {runTime.TotalSeconds:0} s runs at {parse.GetValue(rate)} msg/s | | | | | | | | | | | | | | |");
            }
            Console.Out.WriteLine(VerifyRunRow.TableHeader);
            var rows = new List<VerifyRunRow>();
            int runNumber = 0;
            foreach (var fault in faultList)
            {
                for (int i = 0; i < parse.GetValue(runs); i++)
                {
                    runNumber++;
                    int runSeed = unchecked(masterSeed + runNumber * 7919);
                    bool dedupOn = dedupMode == "on" || (dedupMode == "both" && runNumber % 2 == 1);
                    var row = await RunOnceAsync(new RunSettings(dataDir, serviceUrl, fault, runNumber, runSeed, dedupOn, parse.GetValue(ns)!,
                        runTime, parse.GetValue(rate), parse.GetValue(producers), pause, workDir), ct);
                    rows.Add(row);
                    Console.Out.WriteLine(row.ToMarkdown());
                    await File.AppendAllTextAsync(resultsPath, row.ToMarkdown() + "\n", ct);
                    await File.AppendAllTextAsync(Path.ChangeExtension(resultsPath, ".jsonl"), JsonSerializer.Serialize(row, Json) + "\n", ct);
                }
            }
            int failed = rows.Count(r => r.Verdict == "FAIL"), inconclusive = rows.Count(r => r.Verdict == "inconclusive");
            Console.Out.WriteLine($"verify run: {rows.Count} runs, {failed} failed, {inconclusive} inconclusive; table in {resultsPath}");
            return failed > 0 ? 1 : inconclusive > 0 ? 2 : 0;
        });
        return command;
    }

    private sealed record RunSettings(string DataDir, string ServiceUrl, FaultSpec Fault, int Run, int Seed, bool Dedup, string Namespace,
        TimeSpan Duration, int Rate, int Producers, TimeSpan Pause, string WorkDir);

    private static async Task<VerifyRunRow> RunOnceAsync(RunSettings s, CancellationToken ct)
    {
        var random = new Random(s.Seed);
        string dedup = s.Dedup ? "on" : "off";
        void Log(string line) => Console.Out.WriteLine($"  [run {s.Run}] {line}");
        VerifyRunRow Inconclusive(string reason) =>
            new(s.Run, s.Fault.ToString(), "-", s.Seed, dedup, -1, 0, 0, 0, 0, 0, 0, 0, 0, null, "inconclusive", reason);

        await using var client = VerifyCommand.NewClient(s.ServiceUrl);
        await using var admin = new VerifyAdmin(client, s.ServiceUrl);
        var faults = new ClusterFaults(s.DataDir, admin, random, s.Pause, Log);
        if (!await faults.WaitHealthyAsync(ClusterFaults.HealTimeout, ct)) return Inconclusive("cluster not healthy before the run");
        string topic = $"persistent://{s.Namespace}/run-{DateTime.UtcNow:HHmmss}-{s.Run}-{s.Fault.Kind}-{random.Next(1_000_000):D6}";
        try
        {
            await admin.EnsureNamespaceAsync(s.Namespace, s.Dedup, ct);
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return Inconclusive($"cannot set up {s.Namespace}: {e.Message}");
        }
        bool large = s.Fault.Kind == "torn-journal";
        var options = new VerifyProduceOptions
        {
            Topic = topic, Prefix = $"verify-r{s.Run}", Producers = s.Producers, Rate = large ? Math.Min(s.Rate, 50) : s.Rate,
            Duration = s.Duration, PayloadBytes = large ? 256 * 1024 : 0, Batching = !large,
        };
        long faultAt = (long)(s.Duration.TotalMilliseconds * (0.2 + 0.3 * random.NextDouble()));
        Log($"topic {topic}, dedup {dedup}, seed {s.Seed}, fault {s.Fault} at {faultAt} ms");
        string logPath = Path.Combine(s.WorkDir, $"run-{s.Run}.acks");
        var started = new TaskCompletionSource<VerifyProducer>(TaskCreationOptions.RunContinuationsAsynchronously);
        var produce = VerifyCommand.ProduceAsync(s.ServiceUrl, options, logPath, p => started.TrySetResult(p), ct);
        FaultOutcome? outcome = null;
        string? faultError = null;
        try
        {
            var producer = await started.Task;
            while (producer.NowMillis < faultAt && !produce.IsCompleted) await Task.Delay(20, ct);
            if (produce.IsCompleted) await produce; // producers could not start: throws
            // Writes go on after the heal, however long it took, so that the table shows whether they resume.
            producer.SetEnd(long.MaxValue);
            try
            {
                outcome = await faults.InjectAsync(s.Fault, topic, () => producer.NowMillis, ct);
            }
            finally
            {
                producer.SetEnd(outcome is null ? 0 : outcome.HealedAtMillis + ResumeWindowMillis);
            }
            Log($"fault {s.Fault} on {outcome.Target} at {outcome.InjectedAtMillis} ms, healed at {outcome.HealedAtMillis} ms");
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            faultError = $"{e.GetType().Name}: {e.Message}";
            Log("fault not injected: " + faultError);
        }
        ProduceSummary summary;
        try
        {
            summary = await produce;
        }
        catch (Exception e) when (e is not OperationCanceledException || !ct.IsCancellationRequested)
        {
            return Inconclusive($"produce failed: {e.GetType().Name}: {e.Message}");
        }
        Log($"produce: {summary}");
        if (!await faults.WaitHealthyAsync(ClusterFaults.HealTimeout, ct)) Log("cluster not healthy after the fault; checking anyway");
        var report = await VerifyCommand.CheckAsync(s.ServiceUrl, topic, AckLog.Read(logPath), null, TimeSpan.FromSeconds(20), ct);
        Log("check: " + report.ToText().TrimEnd().Replace("\n", "\n    ", StringComparison.Ordinal));
        long? recover = outcome is null ? null : summary.RecoveryAfter(outcome.InjectedAtMillis, outcome.HealedAtMillis);
        string verdict;
        string? reason = report.Reason;
        if (report.Verdict == CheckVerdict.Fail)
        {
            verdict = "FAIL";
        }
        else if (report.Verdict == CheckVerdict.Inconclusive || faultError is not null)
        {
            verdict = "inconclusive";
            reason ??= "fault not injected: " + faultError;
        }
        else if (recover is null)
        {
            verdict = "FAIL";
            reason = "writes did not resume after the fault";
        }
        else
        {
            verdict = "pass";
        }
        return new VerifyRunRow(s.Run, s.Fault.ToString(), outcome?.Target ?? "-", s.Seed, dedup, outcome?.InjectedAtMillis ?? -1,
            report.Acked, report.Lost, report.Reordered, report.Duplicates, report.UnacknowledgedPresent, report.Phantoms,
            summary.Errors + summary.Timeouts, summary.LongestGapMillis, recover, verdict, reason);
    }
}
