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

    public static Command Create()
    {
        var perf = new Command("perf", "Benchmarks");
        perf.Subcommands.Add(CreateBookie());
        perf.Subcommands.Add(PerfProduce.Create());
        perf.Subcommands.Add(PerfConsume.Create());
        return perf;
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

        var command = new Command("bookie", "Add throughput and latency of a bookie vs. the disk's fdatasync ceiling")
        {
            address, inProcess, dataDir, writers, entryBytes, pipeline, duration, warmup, ceilingDir, ceilingDuration, json,
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

            var measured = ParseDuration(parse.GetValue(duration)!);
            var warm = ParseDuration(parse.GetValue(warmup)!);
            var ceilingTime = ParseDuration(parse.GetValue(ceilingDuration)!);
            BookieServer? server = null;
            string? target = parse.GetValue(address);
            string? ceilingPath = parse.GetValue(ceilingDir);
            string? ownedDataDir = null;
            try
            {
                if (parse.GetValue(inProcess))
                {
                    string root = parse.GetValue(dataDir)
                        ?? (ownedDataDir = Path.Combine(Path.GetTempPath(), $"pulsarish-perf-{Guid.NewGuid():N}"));
                    server = await BookieServer.StartAsync(new BookieOptions
                    {
                        Port = 0,
                        JournalDir = Path.Combine(root, "journal"),
                        LedgersDir = Path.Combine(root, "ledgers"),
                        IndexDir = Path.Combine(root, "index"),
                    }, new BookieServerSetup { ConfigureLogging = l => l.SetMinimumLevel(LogLevel.Warning).AddConsole() }, ct);
                    target = server.Address;
                    ceilingPath ??= Path.Combine(root, "journal");
                }
                else if (target is null)
                {
                    Console.Error.WriteLine("give --address HOST:PORT or --in-process");
                    return 2;
                }

                var settings = new BookiePerf.Settings(target, writerCount, bytes, depth, measured, warm,
                    FirstLedgerId: DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() * 1_000);
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
                s.Writers, s.EntryBytes, s.PipelineDepth, durationSeconds = r.Seconds, r.Adds, r.Errors,
                r.AddsPerSecond, mbPerSecond = r.BytesPerSecond / 1e6, p50Micros = r.P50Micros, p99Micros = r.P99Micros,
                p999Micros = r.P999Micros, maxMicros = r.MaxMicros, allocatedBytesPerAdd = allocatedPerAdd,
                allocationsInclude = inProcess ? "client+server" : "server",
                ceilingMbPerSecond = c.BytesPerSecond / 1e6, ceilingGroupBytes = groupBytes,
                ceilingSyncsPerSecond = c.SyncsPerSecond, medianFdatasyncMicros = medianSyncMicros,
                bytesRatioToCeiling = ratio, p99OverMedianFdatasync = r.P99Micros / medianSyncMicros,
            }));
            return;
        }

        var inv = CultureInfo.InvariantCulture;
        Console.Out.WriteLine(string.Format(inv,
            "writers {0}, entry {1} B, pipeline {2}, measured {3:F1} s: {4} adds ({5} errors)",
            s.Writers, s.EntryBytes, s.PipelineDepth, r.Seconds, r.Adds, r.Errors));
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
