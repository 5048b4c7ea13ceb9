using System.CommandLine;
using System.Text.Json;
using Pulsarish.Client;

namespace Pulsarish.Cli.Verify;

/// <summary>
/// <c>pulsarish verify produce|check|run</c>: a safety checker an operator runs against their own cluster.
/// <c>produce</c> writes sequenced messages and logs every acknowledgement; <c>check</c> reads the topic back and
/// reports loss, reordering, duplicates and phantoms (exit 1 on a violation, 2 when the topic cannot be read);
/// <c>run</c> repeats produce, one injected fault and check against a <c>pulsarish cluster up</c> cluster.
/// </summary>
public static class VerifyCommand
{
    /// <summary>The durable subscription <c>produce</c> creates so that retention keeps every message for <c>check</c>.</summary>
    public const string RetainSubscription = "verify-retain";

    public static Command Create()
    {
        var command = new Command("verify", "Check the cluster's durability and ordering guarantees, optionally under injected faults");
        command.Subcommands.Add(Produce());
        command.Subcommands.Add(Check());
        command.Subcommands.Add(VerifyRunCommand.Create());
        return command;
    }

    internal static TimeSpan ParseDuration(string text) => PerfCommand.ParseDuration(text);

    private static Command Produce()
    {
        var topic = new Argument<string>("topic") { Description = "Topic to write (use a fresh one per run)" };
        var url = ClientConnection.ServiceUrlOption();
        var legacyUrl = ClientConnection.LegacyUrlOption();
        var log = new Option<string>("--ack-log") { Description = "File of acknowledged sends (input of 'verify check')", Required = true };
        var producers = new Option<int>("--producers", "-k") { Description = "Producers", DefaultValueFactory = _ => 2 };
        var rate = new Option<int>("--rate", "-r") { Description = "Messages per second over all producers", DefaultValueFactory = _ => 200 };
        var duration = new Option<string>("--duration", "-d") { Description = "How long to send (30s, 1m)", DefaultValueFactory = _ => "60s" };
        var inFlight = new Option<int>("--max-in-flight") { Description = "Unacknowledged sends per producer at most", DefaultValueFactory = _ => 100 };
        var sendTimeout = new Option<int>("--send-timeout-ms") { Description = "A send without receipt after this counts as timed out", DefaultValueFactory = _ => 30_000 };
        var size = new Option<int>("--payload-bytes") { Description = "Pad payloads to this size", DefaultValueFactory = _ => 0 };
        var prefix = new Option<string?>("--prefix") { Description = "Producer name prefix (default: verify-<random>)" };
        var noBatching = new Option<bool>("--disable-batching") { Description = "One message per entry" };
        var command = new Command("produce", "Write sequenced messages producer:seq and log every acknowledgement")
        {
            topic, url, legacyUrl, log, producers, rate, duration, inFlight, sendTimeout, size, prefix, noBatching,
        };
        command.SetAction(async (parse, ct) =>
        {
            var options = new VerifyProduceOptions
            {
                Topic = parse.GetValue(topic)!, Producers = parse.GetValue(producers), Rate = parse.GetValue(rate),
                MaxInFlight = parse.GetValue(inFlight), SendTimeout = TimeSpan.FromMilliseconds(parse.GetValue(sendTimeout)),
                PayloadBytes = parse.GetValue(size), Batching = !parse.GetValue(noBatching),
                Prefix = parse.GetValue(prefix) ?? "verify-" + Guid.NewGuid().ToString("N")[..8],
            };
            try
            {
                options.Duration = ParseDuration(parse.GetValue(duration)!);
            }
            catch (FormatException e)
            {
                return CliErrors.BadArguments(e.Message);
            }
            if (options.Producers < 1 || options.Rate < 1 || options.MaxInFlight < 1 || options.SendTimeout <= TimeSpan.Zero
                || options.PayloadBytes < 0 || options.Prefix.Contains(' ') || options.Prefix.Contains(':'))
            {
                return CliErrors.BadArguments("--producers, --rate, --max-in-flight and --send-timeout-ms must be positive; --prefix without ' ' or ':'");
            }
            string serviceUrl = ClientConnection.Resolve(parse, url, legacyUrl);
            try
            {
                await ClientConnection.EnsureReachableAsync(serviceUrl, ct);
                var summary = await ProduceAsync(serviceUrl, options, parse.GetValue(log)!, null, ct);
                Console.Out.WriteLine($"produced to {options.Topic}: {summary}");
                return 0;
            }
            catch (Exception e) when (CliErrors.TryPrint(e, out int exitCode))
            {
                return exitCode;
            }
        });
        return command;
    }

    /// <summary>One produce phase: the retaining subscription, the producers, the ack log.</summary>
    internal static async Task<ProduceSummary> ProduceAsync(string serviceUrl, VerifyProduceOptions options, string logPath,
        Action<VerifyProducer>? started, CancellationToken ct)
    {
        await using var client = NewClient(serviceUrl);
        await using var admin = new VerifyAdmin(client, serviceUrl);
        bool? dedup = await admin.DeduplicationAsync(options.Topic, ct);
        using var log = new AckLog.Writer(logPath, options.Topic, options.Prefix, dedup);
        var producer = new VerifyProducer(options);
        started?.Invoke(producer);
        // The topic exists once a producer attached; the subscription is created before the first send.
        return await producer.RunAsync(client, log,
            () => WithRetriesAsync(() => admin.CreateSubscriptionAsync(options.Topic, RetainSubscription, ct), ct), ct);
    }

    private static Command Check()
    {
        var topic = new Argument<string>("topic") { Description = "Topic written by 'verify produce'" };
        var url = ClientConnection.ServiceUrlOption();
        var legacyUrl = ClientConnection.LegacyUrlOption();
        var log = new Option<string>("--ack-log") { Description = "The ack log of 'verify produce'", Required = true };
        var dedup = new Option<string>("--dedup") { Description = "on, off or auto (as recorded by produce)", DefaultValueFactory = _ => "auto" };
        var idle = new Option<int>("--idle-ms") { Description = "Stop reading after this long without a message", DefaultValueFactory = _ => 15_000 };
        var output = new Option<string>("--output") { Description = "text or json", DefaultValueFactory = _ => "text" };
        var command = new Command("check", "Read the topic from the earliest message and compare it with the ack log (exit 1: violation, 2: inconclusive)")
        {
            topic, url, legacyUrl, log, dedup, idle, output,
        };
        command.SetAction(async (parse, ct) =>
        {
            string mode = parse.GetValue(dedup)!;
            if (mode is not ("on" or "off" or "auto")) return CliErrors.BadArguments("--dedup is on, off or auto");
            AckLog ackLog;
            try
            {
                ackLog = AckLog.Read(parse.GetValue(log)!);
            }
            catch (Exception e) when (e is IOException or FormatException or UnauthorizedAccessException)
            {
                return CliErrors.BadArguments(e.Message);
            }
            bool? deduplication = mode switch { "on" => true, "off" => false, _ => null };
            string serviceUrl = ClientConnection.Resolve(parse, url, legacyUrl);
            var report = await CheckAsync(serviceUrl, parse.GetValue(topic)!, ackLog, deduplication,
                TimeSpan.FromMilliseconds(parse.GetValue(idle)), ct);
            if (parse.GetValue(output) == "json")
                Console.Out.WriteLine(JsonSerializer.Serialize(report, new JsonSerializerOptions(JsonSerializerDefaults.Web) { WriteIndented = true }));
            else
                Console.Out.Write(report.ToText());
            return report.ExitCode;
        });
        return command;
    }

    /// <summary>Reads the topic and checks it; a read that cannot complete gives an inconclusive report.</summary>
    internal static async Task<CheckReport> CheckAsync(string serviceUrl, string topic, AckLog log, bool? deduplication,
        TimeSpan idle, CancellationToken ct)
    {
        try
        {
            await ClientConnection.EnsureReachableAsync(serviceUrl, ct);
        }
        catch (CliException e)
        {
            return CheckReport.Inconclusive($"{e.Reason}: {e.Message}");
        }
        await using var client = NewClient(serviceUrl);
        await using var admin = new VerifyAdmin(client, serviceUrl);
        var scan = await TopicScan.ReadAllAsync(client, admin, topic, idle, TimeSpan.FromSeconds(2), ct);
        var report = VerifyChecker.Check(log, scan.Messages, deduplication);
        if (scan.Incomplete is not null)
        {
            // What was read may show phantoms, reordering or duplicates, but not loss: call it inconclusive.
            report.Verdict = CheckVerdict.Inconclusive;
            report.Reason = scan.Incomplete;
        }
        return report;
    }

    internal static PulsarishClient NewClient(string serviceUrl) => new(new PulsarishClientOptions
    {
        ServiceUrls = serviceUrl.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries),
        MaxReconnectDelay = TimeSpan.FromSeconds(1),
        OperationTimeout = TimeSpan.FromSeconds(20),
    });

    private static async Task WithRetriesAsync(Func<Task> action, CancellationToken ct)
    {
        for (int attempt = 1; ; attempt++)
        {
            try
            {
                await action();
                return;
            }
            catch (Exception) when (attempt < 8 && !ct.IsCancellationRequested)
            {
                await Task.Delay(TimeSpan.FromMilliseconds(250 * Math.Min(attempt, 4)), ct);
            }
        }
    }
}
