using System.Text;
using Pulsarish.Protocol.Errors;
using Pulsarish.Ledgers;
using Pulsarish.Metadata;
using Pulsarish.Metadata.ZooKeeper;
using Pulsarish.Protocol.Metadata;
using Pulsarish.TestKit;

namespace Pulsarish.Ledgers.Tests.Real;

/// <summary>The ledger client with its metadata in a real ZooKeeper server (Debian package, own port and data dir).</summary>
[TestFixture]
[NonParallelizable]
public sealed class ZooKeeperLedgerTests
{
    [Test]
    public async Task LedgerLifecycleWithEnsembleChangeAndRecoveryOnZooKeeper()
    {
        await using var zk = await ZooKeeperServer.StartAsync();
        var options = new ZooKeeperClientOptions { ConnectString = zk.ConnectString + "/ledgers-test", SessionTimeout = TimeSpan.FromSeconds(4) };
        await using var store = await ZooKeeperMetadataStore.ConnectAsync(options);
        // Each bookie registers through its own ZooKeeper session (disposed by the cluster when it stops).
        await using (var cluster = await RealBookieCluster.StartAsync(4, store,
                         async () => await ZooKeeperMetadataStore.ConnectAsync(options)))
        {
            var writer = await cluster.NewClient().CreateLedgerAsync(3, 2, 2);
            for (int i = 0; i < 100; i++)
            {
                await writer.AddAsync(Encoding.UTF8.GetBytes($"zk-{i}"));
            }
            await cluster.StopBookieAsync(writer.Metadata.Fragments[0].Bookies[0]);
            for (int i = 100; i < 200; i++)
            {
                await writer.AddAsync(Encoding.UTF8.GetBytes($"zk-{i}")).WaitAsync(TimeSpan.FromSeconds(10));
            }
            var recovered = await cluster.NewClient().OpenWithRecoveryAsync(writer.LedgerId);
            Assert.That(recovered.LastAddConfirmed, Is.EqualTo(199));
            Assert.ThrowsAsync<LedgerFencedException>(() => writer.AddAsync(Encoding.UTF8.GetBytes("late")).WaitAsync(TimeSpan.FromSeconds(10)));

            var stored = (await cluster.MetadataStore.ReadAsync(writer.LedgerId))!.Value.Metadata;
            Assert.That(stored.State, Is.EqualTo(LedgerState.Closed));
            Assert.That(stored.Fragments, Has.Count.EqualTo(2));
            // The first entry whose write set holds the stopped bookie (index 0) is 100 or 101 (E=3, Qw=2).
            Assert.That(stored.Fragments[1].FirstEntryId, Is.InRange(100L, 101L));
            var entries = await recovered.ReadAsync(100, 199);
            Assert.That(entries.Select(e => Encoding.UTF8.GetString(e.Payload.Span)),
                Is.EqualTo(Enumerable.Range(100, 100).Select(i => $"zk-{i}")));
            await cluster.NewClient().DeleteLedgerAsync(writer.LedgerId);
            Assert.That(await cluster.MetadataStore.ReadAsync(writer.LedgerId), Is.Null);
        }
    }
}
