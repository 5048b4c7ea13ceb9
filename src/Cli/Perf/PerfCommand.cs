using Pulsarish.Hosting;
using System.CommandLine;
using System.Globalization;
using System.Text.Json;
using Microsoft.Extensions.Logging;
using Pulsarish.Bookie;
using Pulsarish.Bookie.Storage;

namespace Pulsarish.Cli;

/// <summary><c>pulsarish perf …</c>: load generators. <c>perf bookie</c> measures a bookie's add path against the disk.</summary>
public static class PerfCommand
{
    /// <summary>Journal record bytes around a payload (length, crc, ids, flags) plus the stored LAC and digest.</summary>
    private const int JournalOverheadBytes = 48;

    private static readonly JsonSerializerOptions JsonOptions = new() { PropertyNamingPolicy = JsonNamingPolicy.CamelCase };

    public static Command Create()
    {
        var perf = new Command("perf", "Benchmarks");
        perf.Subcommands.Add(CreateBookie());
        perf.Subcommands.Add(CreateLedger());
        perf.Subcommands.Add(PerfProduce.Create());
        perf.Subcommands.Add(PerfConsume.Create());
        return perf;
    }

    private static Command CreateLedger()
    {
        var bookies = new Option<string>("--bookies") { Description = "Comma-separated bookie HOST:PORTs", Required = true };
        var configs = new Option<string>("--configs")
        {
            Description = "Space-separated E,Qw,Qa triples to run in turn",
            DefaultValueFactory = _ => "1,1,1 3,2,2 3,3,2 3,3,3",
        };
        var writers = new Option<int>("--writers") { Description = "Concurrent writers (one ledger each)", DefaultValueFactory = _ => 64 };
        var entryBytes = new Option<int>("--entry-bytes") { Description = "Payload bytes", DefaultValueFactory = _ => 1024 };
        var pipeline = new Option<int>("--pipeline") { Description = "Adds in flight per writer", DefaultValueFactory = _ => 1 };
        var duration = new Option<string>("--duration") { Description = "Measured time per run", DefaultValueFactory = _ => "15s" };
        var warmup = new Option<string>("--warmup") { Description = "Unmeasured warm-up per run", DefaultValueFactory = _ => "2s" };
        var json = new Option<bool>("--json") { Description = "Print one JSON object per run" };
        var command = new Command("ledger",
            "Ledger-client add throughput and latency per (E,Qw,Qa), with a single-bookie ceiling run first")
        {
            bookies, configs, writers, entryBytes, pipeline, duration, warmup, json,
        };
        command.SetAction(async (parse, ct) =>
        {
            string[] addresses = parse.GetValue(bookies)!.Split(',', StringSplitOptions.RemoveEmptyEntries | StringSplitOptions.TrimEntries);
            int writerCount = parse.GetValue(writers);
            int bytes = parse.GetValue(entryBytes);
            int depth = parse.GetValue(pipeline);
            var measured = ParseDuration(parse.GetValue(duration)!);
            var warm = ParseDuration(parse.GetValue(warmup)!);
            var triples = new List<(int E, int Qw, int Qa)>();
            foreach (string t in parse.GetValue(configs)!.Split(' ', StringSplitOptions.RemoveEmptyEntries))
            {
                string[] parts = t.Split(',');
                if (parts.Length != 3 || !int.TryParse(parts[0], out int e) || !int.TryParse(parts[1], out int qw)
                    || !int.TryParse(parts[2], out int qa))
                {
                    Console.Error.WriteLine($"bad --configs triple '{t}': expected E,Qw,Qa");
                    return 2;
                }

                triples.Add((e, qw, qa));
            }

            bool asJson = parse.GetValue(json);
            var inv = CultureInfo.InvariantCulture;
            // The ceiling: the same load straight on one bookie (no replication, no ledger handle), on the ledger
            // client's transport (one shared AddBatch stream), so the ratios compare like with like.
            var single = await new BookiePerf(new BookiePerf.Settings(addresses[0], writerCount, bytes, depth, measured, warm,
                FirstLedgerId: DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000,
                Transport: BookiePerf.PerfTransport.Batch)).RunAsync(ct);
            Report("single-bookie", single.AddsPerSecond, single.BytesPerSecond, single.P50Micros, single.P99Micros,
                single.P999Micros, single.MaxMicros, single.Errors, 1.0);
            int failures = 0;
            await using var metadata = await LedgerPerf.CreateMetadataAsync(addresses, ct);
            foreach (var (e, qw, qa) in triples)
            {
                var r = await new LedgerPerf(new LedgerPerf.Settings(addresses, e, qw, qa, writerCount, bytes, depth, measured, warm))
                    .RunAsync(metadata, ct);
                failures += r.Errors > 0 ? 1 : 0;
                Report($"({e},{qw},{qa})", r.AddsPerSecond, r.BytesPerSecond, r.P50Micros, r.P99Micros, r.P999Micros,
                    r.MaxMicros, r.Errors, r.AddsPerSecond / single.AddsPerSecond);
            }

            return failures == 0 ? 0 : 1;

            void Report(string name, double addsPerSecond, double bytesPerSecond, long p50, long p99, long p999, long max,
                long errors, double ratio)
            {
                if (asJson)
                {
                    Console.Out.WriteLine(JsonSerializer.Serialize(new
                    {
                        config = name, writers = writerCount, entryBytes = bytes, pipeline = depth, addsPerSecond,
                        mbPerSecond = bytesPerSecond / 1e6, p50Micros = p50, p99Micros = p99, p999Micros = p999,
                        maxMicros = max, errors, ratioToSingleBookie = ratio,
                    }, JsonOptions));
                    return;
                }

                Console.Out.WriteLine(string.Format(inv,
                    "{0,-14} adds/s {1,8:F0}  MB/s {2,6:F2}  latency µs p50 {3,7} p99 {4,7} p99.9 {5,7} max {6,7}  errors {7}  vs single bookie {8:P0}",
                    name, addsPerSecond, bytesPerSecond / 1e6, p50, p99, p999, max, errors, ratio));
            }
        });
        return command;
    }

    private static Command CreateBookie()
    {
        var address = new Option<string?>("--address") { Description = "Bookie HOST:PORT (omit with --in-process)" };
        var inProcess = new Option<bool>("--in-process")
        {
            Description = "Start a bookie in this process on --data-dir (allocations then include the client's)",
        };
        var dataDir = new Option<string?>("--data-dir") { Description = "Data directory of the in-process bookie" };
        var writers = new Option<int>("--writers") { Description = "Concurrent writers", DefaultValueFactory = _ => 64 };
        var entryBytes = new Option<int>("--entry-bytes") { Description = "Payload bytes", DefaultValueFactory = _ => 1024 };
        var pipeline = new Option<int>("--pipeline")
        {
            Description = "Adds in flight per writer", DefaultValueFactory = _ => 1,
        };
        var duration = new Option<string>("--duration") { Description = "Measured time (20s, 500ms, 1m)", DefaultValueFactory = _ => "20s" };
        var warmup = new Option<string>("--warmup") { Description = "Unmeasured warm-up", DefaultValueFactory = _ => "3s" };
        var ceilingDir = new Option<string?>("--ceiling-dir")
        {
            Description = "Directory on the bookie's journal disk for the disk-ceiling run (default: temp dir)",
        };
        var ceilingDuration = new Option<string>("--ceiling-duration")
        {
            Description = "Total disk-ceiling time, half before and half after the load", DefaultValueFactory = _ => "10s",
        };
        var json = new Option<bool>("--json") { Description = "Print one JSON object" };
        var transport = new Option<string>("--transport")
        {
            Description = "batch: writers share one AddBatch stream (the ledger client's transport); single: one Add stream per writer",
            DefaultValueFactory = _ => "batch",
        };

        var command = new Command("bookie", "Add throughput and latency of a bookie vs. the disk's fdatasync ceiling")
        {
            address, inProcess, dataDir, writers, entryBytes, pipeline, duration, warmup, ceilingDir, ceilingDuration, json,
            transport,
        };
        command.SetAction(async (parse, ct) =>
        {
            int writerCount = parse.GetValue(writers);
            int bytes = parse.GetValue(entryBytes);
            int depth = parse.GetValue(pipeline);
            if (writerCount < 1 || bytes < 1 || depth < 1)
            {
                Console.Error.WriteLine("--writers, --entry-bytes and --pipeline must be positive");
                return 2;
            }

            if (!Enum.TryParse<BookiePerf.PerfTransport>(parse.GetValue(transport), ignoreCase: true, out var wire))
            {
                Console.Error.WriteLine("--transport must be batch or single");
                return 2;
            }

            var measured = ParseDuration(parse.GetValue(duration)!);
            var warm = ParseDuration(parse.GetValue(warmup)!);
            var ceilingTime = ParseDuration(parse.GetValue(ceilingDuration)!);
            BookieHost? server = null;
            string? target = parse.GetValue(address);
            string? ceilingPath = parse.GetValue(ceilingDir);
            string? ownedDataDir = null;
            try
            {
                if (parse.GetValue(inProcess))
                {
                    string root = parse.GetValue(dataDir)
                        ?? (ownedDataDir = Path.Combine(Path.GetTempPath(), $"pulsarish-perf-{Guid.NewGuid():N}"));
                    server = await BookieHost.StartAsync(new BookieOptions
                    {
                        Port = 0,
                        JournalDir = Path.Combine(root, "journal"),
                        LedgersDir = Path.Combine(root, "ledgers"),
                        IndexDir = Path.Combine(root, "index"),
                    }, new BookieHostSetup { ConfigureLogging = l => l.SetMinimumLevel(LogLevel.Warning).AddConsole() }, ct);
                    target = server.Address;
                    ceilingPath ??= Path.Combine(root, "journal");
                }
                else if (target is null)
                {
                    Console.Error.WriteLine("give --address HOST:PORT or --in-process");
                    return 2;
                }

                var settings = new BookiePerf.Settings(target, writerCount, bytes, depth, measured, warm,
                    FirstLedgerId: DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000, Transport: wire);
                int groupBytes = (int)Math.Min(new BookieOptions().MaxGroupBytes,
                    (long)writerCount * depth * (bytes + JournalOverheadBytes));
                string ceilingDirectory = ceilingPath ?? Path.GetTempPath();
                // The disk is measured before and after the load and averaged: shared disks drift within a minute.
                var before = MeasureCeiling(ceilingDirectory, groupBytes, ceilingTime / 2);
                var report = await new BookiePerf(settings).RunAsync(ct);
                var after = MeasureCeiling(ceilingDirectory, groupBytes, ceilingTime / 2);
                var ceiling = new DiskCeilingResult((before.BytesPerSecond + after.BytesPerSecond) / 2,
                    (before.MedianSyncLatency + after.MedianSyncLatency) / 2,
                    (before.SyncsPerSecond + after.SyncsPerSecond) / 2);
                if (!parse.GetValue(json))
                {
                    Console.Out.WriteLine(string.Format(CultureInfo.InvariantCulture,
                        "disk ceiling before {0:F2} MB/s, after {1:F2} MB/s", before.BytesPerSecond / 1e6,
                        after.BytesPerSecond / 1e6));
                }

                Print(settings, report, ceiling, parse.GetValue(json), server is not null);
                return report.Errors == 0 ? 0 : 1;
            }
            finally
            {
                if (server is not null)
                {
                    await server.StopAsync();
                }

                if (ownedDataDir is not null)
                {
                    Directory.Delete(ownedDataDir, recursive: true);
                }
            }
        });
        return command;
    }

    private static void Print(BookiePerf.Settings s, BookiePerf.Report r, DiskCeilingResult c, bool json, bool inProcess)
    {
        double ratio = r.BytesPerSecond / c.BytesPerSecond;
        double medianSyncMicros = c.MedianSyncLatency.TotalMicroseconds;
        int groupBytes = (int)Math.Round(c.BytesPerSecond / c.SyncsPerSecond);
        double allocatedPerAdd = r.Adds == 0 ? 0 : (double)r.ServerAllocatedBytes / r.Adds;
        if (json)
        {
            Console.Out.WriteLine(JsonSerializer.Serialize(new
            {
                s.Writers, s.EntryBytes, s.PipelineDepth, transport = s.Transport.ToString().ToLowerInvariant(), durationSeconds = r.Seconds, r.Adds, r.Errors,
                r.AddsPerSecond, mbPerSecond = r.BytesPerSecond / 1e6, p50Micros = r.P50Micros, p99Micros = r.P99Micros,
                p999Micros = r.P999Micros, maxMicros = r.MaxMicros, allocatedBytesPerAdd = allocatedPerAdd,
                allocationsInclude = inProcess ? "client+server" : "server",
                ceilingMbPerSecond = c.BytesPerSecond / 1e6, ceilingGroupBytes = groupBytes,
                ceilingSyncsPerSecond = c.SyncsPerSecond, medianFdatasyncMicros = medianSyncMicros,
                bytesRatioToCeiling = ratio, p99OverMedianFdatasync = r.P99Micros / medianSyncMicros,
            }, JsonOptions));
            return;
        }

        var inv = CultureInfo.InvariantCulture;
        Console.Out.WriteLine(string.Format(inv,
            "writers {0}, entry {1} B, pipeline {2}, transport {6}, measured {3:F1} s: {4} adds ({5} errors)",
            s.Writers, s.EntryBytes, s.PipelineDepth, r.Seconds, r.Adds, r.Errors, s.Transport.ToString().ToLowerInvariant()));
        Console.Out.WriteLine(string.Format(inv, "  adds/s {0:F0}   MB/s {1:F2}", r.AddsPerSecond, r.BytesPerSecond / 1e6));
        Console.Out.WriteLine(string.Format(inv, "  latency µs  p50 {0}  p99 {1}  p99.9 {2}  max {3}",
            r.P50Micros, r.P99Micros, r.P999Micros, r.MaxMicros));
        Console.Out.WriteLine(string.Format(inv, "  allocated per add {0:F0} B ({1})", allocatedPerAdd,
            inProcess ? "client+server, in-process" : "bookie process"));
        Console.Out.WriteLine(string.Format(inv,
            "disk ceiling: {0:F2} MB/s ({1:F0} write+fdatasync/s of {2} B groups), median write+fdatasync {3:F0} µs",
            c.BytesPerSecond / 1e6, c.SyncsPerSecond, groupBytes, medianSyncMicros));
        Console.Out.WriteLine(string.Format(inv,
            "ratio: adds bytes/s = {0:P1} of ceiling (target >= 50%); p99 = {1:F2}x median fdatasync (target <= 3x)",
            ratio, r.P99Micros / medianSyncMicros));
    }

    /// <summary>
    /// Runs the storage engine's <see cref="DiskCeiling"/> for about <paramref name="duration"/>: a short probe sizes the
    /// number of groups.
    /// </summary>
    private static DiskCeilingResult MeasureCeiling(string dir, int groupBytes, TimeSpan duration)
    {
        var probe = DiskCeiling.Measure(dir, groupBytes, 20);
        int groups = (int)Math.Clamp(probe.SyncsPerSecond * duration.TotalSeconds, 20, 1_000_000);
        return DiskCeiling.Measure(dir, groupBytes, groups);
    }

    /// <summary>Parses "20s", "500ms", "2m" or a plain number of seconds.</summary>
    public static TimeSpan ParseDuration(string text)
    {
        text = text.Trim();
        if (text.EndsWith("ms", StringComparison.Ordinal))
        {
            return TimeSpan.FromMilliseconds(double.Parse(text[..^2], CultureInfo.InvariantCulture));
        }

        if (text.EndsWith('s'))
        {
            return TimeSpan.FromSeconds(double.Parse(text[..^1], CultureInfo.InvariantCulture));
        }

        if (text.EndsWith('m'))
        {
            return TimeSpan.FromMinutes(double.Parse(text[..^1], CultureInfo.InvariantCulture));
        }

        return TimeSpan.FromSeconds(double.Parse(text, CultureInfo.InvariantCulture));
    }
}
