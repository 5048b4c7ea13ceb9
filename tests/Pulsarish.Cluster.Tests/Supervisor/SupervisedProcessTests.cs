using System.Diagnostics;
using Microsoft.Extensions.Logging.Abstractions;
using Pulsarish.Hosting.Supervisor;

namespace Pulsarish.Cluster.Tests.Supervisor;

/// <summary>One supervised child (a small python or bash program) without a cluster around it.</summary>
[TestFixture]
public sealed class SupervisedProcessTests
{
    private string _dir = "";

    [SetUp]
    public void MakeDir()
    {
        _dir = Path.Combine(Path.GetTempPath(), "pulsarish-tests", "supervised-" + Guid.NewGuid().ToString("N"));
        Directory.CreateDirectory(_dir);
    }

    [TearDown]
    public void RemoveDir() => Directory.Delete(_dir, recursive: true);

    [Test]
    public async Task ChildAboveTheMemoryLimitIsKilledAndRestarted()
    {
        var spec = new ChildSpec("hog", "test", "-", "python3",
            ["-c", "import time\nx = bytearray(96 * 1024 * 1024)\nfor i in range(0, len(x), 4096): x[i] = 1\nprint('hog ready', flush=True)\ntime.sleep(60)"],
            SendsHeartbeats: false, ReadyMarker: "hog ready");
        var options = new SupervisorOptions
        {
            MaxRssBytes = 48L * 1024 * 1024,
            HealthCheckInterval = TimeSpan.FromMilliseconds(200),
            InitialRestartBackoff = TimeSpan.FromMilliseconds(100),
            GracePeriod = TimeSpan.FromSeconds(2),
        };
        using var child = new SupervisedProcess(spec, options, _dir, NullLogger.Instance, () => { });
        using var stop = new CancellationTokenSource();
        var run = child.RunAsync(stop.Token);
        var firstPids = new HashSet<int>();
        await Eventually.Until(() =>
        {
            if (child.Pid is int pid) firstPids.Add(pid);
            return child.Restarts >= 2;
        }, TimeSpan.FromSeconds(30));
        stop.Cancel();
        await run.WaitAsync(TimeSpan.FromSeconds(30));

        Assert.That(child.Restarts, Is.GreaterThanOrEqualTo(2), "restarted each time it outgrew the bound");
        Assert.That(await File.ReadAllTextAsync(child.LogFile), Does.Contain("above 48 MiB"));
        Assert.That(child.State, Is.EqualTo(ChildState.Stopped));
        Assert.That(firstPids.Where(ClusterProcess.IsAlive), Is.Empty, "every incarnation is gone and reaped");
    }

    [Test]
    public async Task CrashLoopBacksOffExponentially()
    {
        var spec = new ChildSpec("crasher", "test", "-", "bash", ["-c", "exit 3"], SendsHeartbeats: false, ReadyMarker: null);
        var options = new SupervisorOptions
        {
            InitialRestartBackoff = TimeSpan.FromMilliseconds(100),
            MaxRestartBackoff = TimeSpan.FromMilliseconds(800),
        };
        using var child = new SupervisedProcess(spec, options, _dir, NullLogger.Instance, () => { });
        using var stop = new CancellationTokenSource(TimeSpan.FromSeconds(3));
        await child.RunAsync(stop.Token).WaitAsync(TimeSpan.FromSeconds(30));

        // Delays 0.1, 0.2, 0.4, 0.8, 0.8, … s: about 5 restarts in 3 s; without back-off there would be dozens.
        Assert.That(child.Restarts, Is.InRange(3, 8));
        var log = await File.ReadAllTextAsync(child.LogFile);
        Assert.That(log, Does.Contain("exit code 3; restart in 00:00:00.8000000"), "the delay is capped at the maximum");
    }
}
