using System.Diagnostics;
using System.Text;
using Microsoft.Extensions.Logging.Abstractions;
using Pulsarish.Bookie.AutoRecovery;
using Pulsarish.Metadata;

namespace Pulsarish.AutoRecovery.Tests;

/// <summary>
/// DESIGN.md §9 for the auditor election, on the embedded store (sessions over one tree): a candidacy counts only
/// under its candidate's current session.
/// </summary>
[TestFixture]
public sealed class AuditorElectorSessionTests
{
    private static readonly TimeSpan Patience = TimeSpan.FromSeconds(20);

    [Test]
    public async Task CandidacyLeftByAnEarlierSessionOfTheSameCandidateIsReplacedAndTheCandidateLeads()
    {
        await using var tree = EmbeddedMetadataStore.CreateInMemory();
        await using var oldSession = tree.CreateSession();
        await using var session = tree.CreateSession();
        // The candidacy as a session expiry leaves it: the old session is still alive, so it would lead (or block us).
        string stale = await oldSession.CreateAsync(MetadataPaths.Auditor + "/" + AutoRecoveryPaths.AuditorCandidatePrefix,
            Encoding.UTF8.GetBytes("bookie-1"), CreateOptions.Ephemeral | CreateOptions.Sequential);

        await using var elector = new AuditorElector(session, "bookie-1", LeadUntilCancelledAsync, NullLogger<AuditorElector>.Instance);
        elector.Start();

        await WaitUntilAsync(() => elector.IsLeader, "bookie-1 leads");
        Assert.That(await tree.ExistsAsync(stale), Is.False, "the stale candidacy was deleted");
        var candidates = await tree.GetChildrenAsync(MetadataPaths.Auditor);
        Assert.That(candidates, Has.Count.EqualTo(1));
        var record = await tree.GetAsync(MetadataPaths.Auditor + "/" + candidates[0]);
        Assert.That(record!.Stat.EphemeralOwner, Is.EqualTo(session.SessionId));
        Assert.That(await AuditorElector.CurrentAuditorAsync(tree), Is.EqualTo("bookie-1"));
    }

    [Test]
    public async Task AnotherCandidatesLiveCandidacyIsLeftAlone()
    {
        await using var tree = EmbeddedMetadataStore.CreateInMemory();
        await using var otherSession = tree.CreateSession();
        await using var session = tree.CreateSession();
        string other = await otherSession.CreateAsync(MetadataPaths.Auditor + "/" + AutoRecoveryPaths.AuditorCandidatePrefix,
            Encoding.UTF8.GetBytes("bookie-2"), CreateOptions.Ephemeral | CreateOptions.Sequential);

        await using var elector = new AuditorElector(session, "bookie-1", LeadUntilCancelledAsync, NullLogger<AuditorElector>.Instance);
        elector.Start();
        await WaitUntilAsync(async () => (await tree.GetChildrenAsync(MetadataPaths.Auditor)).Count == 2, "bookie-1 stands");
        await Task.Delay(500);

        Assert.That(elector.IsLeader, Is.False);
        Assert.That(await tree.ExistsAsync(other), Is.True);
        await otherSession.DisposeAsync();
        await WaitUntilAsync(() => elector.IsLeader, "bookie-1 leads once bookie-2's session ended");
    }

    private static async Task LeadUntilCancelledAsync(CancellationToken ct) => await Task.Delay(Timeout.Infinite, ct);

    private static Task WaitUntilAsync(Func<bool> condition, string what) => WaitUntilAsync(() => Task.FromResult(condition()), what);

    private static async Task WaitUntilAsync(Func<Task<bool>> condition, string what)
    {
        var sw = Stopwatch.StartNew();
        while (!await condition())
        {
            if (sw.Elapsed > Patience) Assert.Fail($"timed out after {Patience.TotalSeconds} s waiting until {what}");
            await Task.Delay(50);
        }
    }
}
