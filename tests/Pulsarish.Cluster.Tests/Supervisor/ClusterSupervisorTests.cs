using System.Diagnostics;
using Pulsarish.Hosting.Supervisor;
using Pulsarish.Metadata;
using Pulsarish.Metadata.ZooKeeper;
using Pulsarish.TestKit;

namespace Pulsarish.Cluster.Tests.Supervisor;

/// <summary><c>pulsarish cluster up</c> with a real ZooKeeper and real bookie processes.</summary>
[TestFixture]
[NonParallelizable]
public sealed class ClusterSupervisorTests
{
    private static readonly TimeSpan OrphanExitBound = TimeSpan.FromSeconds(30);

    [Test]
    public async Task Kill9edBookieIsRestartedAndRejoinsTheCluster()
    {
        await using var cluster = await ClusterProcess.StartAsync(bookies: 2, brokers: 0);
        await using var zk = await ZooKeeperMetadataStore.ConnectAsync(new ZooKeeperClientOptions
        {
            ConnectString = cluster.ZooKeeperConnect, SessionTimeout = TimeSpan.FromSeconds(10),
        });
        var victim = cluster.Status()!.Members.Single(m => m.Name == "bookie-1");
        string available = MetadataPaths.AvailableBookie(victim.Address);
        await WaitAsync(async () => await zk.ExistsAsync(available), "bookie-1 registered");
        var before = (await zk.GetAsync(available))!.Stat;

        Process.GetProcessById(victim.Pid!.Value).Kill(); // SIGKILL, not a child of ours: by PID from cluster.json

        var restarted = await cluster.WaitUntilAsync(
            s => s.Members.Single(m => m.Name == "bookie-1") is { Restarts: >= 1, State: ChildState.Running, Ready: true, Pid: not null } m
                 && m.Pid != victim.Pid,
            "bookie-1 restarted");
        TestContext.Progress.WriteLine($"bookie-1 restarted as pid {restarted.Members.Single(m => m.Name == "bookie-1").Pid}");
        // Its old session expires (the registration vanishes), then the new process registers again. The gap between
        // the two can be shorter than any polling interval, so the proof is the node's creation time: a znode cannot be
        // created while it exists, so a later ctime means the dead bookie's registration was deleted first.
        GetResult? after = null;
        await WaitAsync(async () => (after = await zk.GetAsync(available)) is { } r && r.Stat.CreatedMillis > before.CreatedMillis,
            "the restarted bookie registers anew");
        Assert.That(after!.Stat.Ephemeral, Is.True);
        Assert.That(after.Stat.CreatedMillis, Is.GreaterThan(before.CreatedMillis),
            "the dead bookie's registration vanished before the new one appeared");
        Assert.That(ClusterProcess.IsAlive(victim.Pid.Value), Is.False);
        Assert.That(cluster.Status()!.Members.Single(m => m.Name == "bookie-2").Restarts, Is.Zero);
    }

    [Test]
    public async Task StatusShowsTheRegisteredMembersAndDownStopsEveryProcessGracefully()
    {
        await using var cluster = await ClusterProcess.StartAsync(bookies: 2, brokers: 0);
        var pids = cluster.AllPids();
        Assert.That(pids, Has.Count.GreaterThanOrEqualTo(5), "supervisor, ZooKeeper guard and java, two bookies");

        var status = Process.Start(PulsarishBinary.StartInfo(["cluster", "status", "--data", cluster.DataDir, "--output", "json"]))!;
        string statusJson = await status.StandardOutput.ReadToEndAsync();
        await status.WaitForExitAsync().WaitAsync(ClusterProcess.Patience);
        Assert.That(status.ExitCode, Is.Zero, statusJson);
        using (var doc = System.Text.Json.JsonDocument.Parse(statusJson))
        {
            Assert.That(doc.RootElement.GetProperty("supervisorRunning").GetBoolean(), Is.True);
            var registered = doc.RootElement.GetProperty("registeredBookies").EnumerateArray().Select(e => e.GetString()).ToList();
            Assert.That(registered, Is.EquivalentTo(cluster.Status()!.Bookies), "status shows the bookies registered in ZooKeeper");
        }

        var down = Process.Start(PulsarishBinary.StartInfo(["cluster", "down", "--data", cluster.DataDir]))!;
        string downOutput = await down.StandardOutput.ReadToEndAsync() + await down.StandardError.ReadToEndAsync();
        await down.WaitForExitAsync().WaitAsync(ClusterProcess.Patience);
        Assert.That(down.ExitCode, Is.Zero, downOutput);

        await cluster.WaitForSupervisorExitAsync(ClusterProcess.Patience);
        Assert.That(pids.Where(ClusterProcess.IsAlive), Is.Empty, "no process of the cluster is left, and none is a zombie");
        var final = cluster.Status()!;
        Assert.That(final.Members.Select(m => m.State), Is.All.EqualTo(ChildState.Stopped));
        Assert.That(File.Exists(SupervisorPidFile.PathIn(cluster.DataDir)), Is.False);
        string bookieLog = await File.ReadAllTextAsync(final.Members.Single(m => m.Name == "bookie-1").LogFile);
        Assert.That(bookieLog, Does.Contain("bookie stopped"), "SIGTERM gave the bookie its graceful stop");
    }

    [Test]
    public async Task ChildrenExitByThemselvesWhenTheSupervisorIsKilled()
    {
        await using var cluster = await ClusterProcess.StartAsync(bookies: 2, brokers: 0);
        var children = cluster.AllPids().Where(p => p != cluster.SupervisorPid).ToList();

        Process.GetProcessById(cluster.SupervisorPid).Kill(); // SIGKILL of the supervisor only
        await cluster.WaitForSupervisorExitAsync(ClusterProcess.Patience);

        var sw = Stopwatch.StartNew();
        await Eventually.Until(() => !children.Any(ClusterProcess.IsAlive), OrphanExitBound, TimeSpan.FromMilliseconds(100));
        TestContext.Progress.WriteLine($"orphans gone after {sw.Elapsed.TotalSeconds:F1} s");
        Assert.That(children.Where(ClusterProcess.IsAlive), Is.Empty, $"every child exits within {OrphanExitBound} of its supervisor");
    }

    [Test]
    public async Task ChildThatStopsSendingHeartbeatsIsKilledAndRestarted()
    {
        await using var cluster = await ClusterProcess.StartAsync(bookies: 1, brokers: 0, "--heartbeat-timeout-ms", "3000");
        var bookie = cluster.Status()!.Members.Single(m => m.Name == "bookie-1");

        Assert.That(PosixKill(bookie.Pid!.Value, "STOP"), Is.Zero); // hung, not dead: only the heartbeat tells

        await cluster.WaitUntilAsync(
            s => s.Members.Single(m => m.Name == "bookie-1") is { Restarts: >= 1, Ready: true, Pid: not null } m && m.Pid != bookie.Pid,
            "the hung bookie replaced");
        Assert.That(ClusterProcess.IsAlive(bookie.Pid.Value), Is.False, "the hung process was killed and reaped");
        Assert.That(await File.ReadAllTextAsync(bookie.LogFile), Does.Contain("sent no heartbeat"));
    }

    private static int PosixKill(int pid, string signal)
    {
        using var kill = Process.Start(new ProcessStartInfo("kill", ["-" + signal, pid.ToString()]))!;
        kill.WaitForExit();
        return kill.ExitCode;
    }

    private static async Task WaitAsync(Func<Task<bool>> condition, string what)
    {
        await Eventually.That(condition, ClusterProcess.Patience, $"waiting for {what}", TimeSpan.FromMilliseconds(50));
    }
}
