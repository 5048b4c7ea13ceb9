using System.Text;
using Microsoft.Extensions.Logging;
using Pulsarish.Protocol.Errors;
using Pulsarish.Metadata;

namespace Pulsarish.Bookie.AutoRecovery;

/// <summary>
/// Elects exactly one auditor (BookKeeper's AuditorElector, DESIGN.md §6): each candidate creates an
/// ephemeral-sequential record under /ledgers/auditor; the lowest sequence number leads; the others watch only
/// their predecessor, so a leader's death wakes one successor. The leader runs the work it was given until its
/// record or session is lost. Thread-safe.
/// </summary>
public sealed class AuditorElector : IAsyncDisposable
{
    private static readonly TimeSpan RetryDelay = TimeSpan.FromMilliseconds(500);

    private readonly IMetadataStore _store;
    private readonly string _candidateId;
    private readonly Func<CancellationToken, Task> _leaderWork;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _wake = new(0, 1);
    private readonly CancellationTokenSource _stop = new();
    private readonly IDisposable _listener;
    private volatile string? _myPath;
    private volatile string? _watchedPath;
    private CancellationTokenSource? _leadership;
    private Task? _loop;

    public AuditorElector(IMetadataStore store, string candidateId, Func<CancellationToken, Task> leaderWork, ILogger<AuditorElector> logger)
    {
        _store = store;
        _candidateId = candidateId;
        _leaderWork = leaderWork;
        _logger = logger;
        _listener = store.RegisterListener(OnNotification);
        store.SessionEventRaised += OnSessionEvent;
    }

    /// <summary>True while this candidate leads.</summary>
    public bool IsLeader => Volatile.Read(ref _leadership) is { IsCancellationRequested: false };

    public void Start() => _loop ??= Task.Run(() => RunAsync(_stop.Token));

    /// <summary>The candidate id of the current leader, or null when there is none.</summary>
    public static async Task<string?> CurrentAuditorAsync(IMetadataStore store, CancellationToken ct = default)
    {
        foreach (string name in SortedCandidates(await store.GetChildrenAsync(MetadataPaths.Auditor, ct).ConfigureAwait(false)))
        {
            var record = await store.GetAsync(MetadataPaths.Auditor + "/" + name, ct).ConfigureAwait(false);
            if (record is not null)
            {
                return Encoding.UTF8.GetString(record.Value);
            }
        }
        return null;
    }

    private void OnNotification(Notification n)
    {
        if (n.Type == NotificationType.Deleted && (n.Path == _watchedPath || n.Path == _myPath))
        {
            if (n.Path == _myPath)
            {
                EndLeadership();
            }
            Wake();
        }
    }

    private void OnSessionEvent(SessionEvent e)
    {
        if (e == SessionEvent.SessionLost)
        {
            // Our ephemeral went with the session: stop leading at once (another candidate may take over).
            _myPath = null;
            EndLeadership();
        }
        Wake();
    }

    private void EndLeadership()
    {
        try
        {
            Volatile.Read(ref _leadership)?.Cancel();
        }
        catch (ObjectDisposedException)
        {
            // That leadership already ended.
        }
    }

    private void Wake()
    {
        try
        {
            if (_wake.CurrentCount == 0)
            {
                _wake.Release();
            }
        }
        catch (SemaphoreFullException)
        {
            // Already signalled.
        }
    }

    private async Task RunAsync(CancellationToken ct)
    {
        while (!ct.IsCancellationRequested)
        {
            try
            {
                if (await TryLeadAsync(ct).ConfigureAwait(false))
                {
                    continue;
                }
                await _wake.WaitAsync(TimeSpan.FromSeconds(5), ct).ConfigureAwait(false);
            }
            catch (OperationCanceledException) when (ct.IsCancellationRequested)
            {
                break;
            }
            catch (Exception e)
            {
                _logger.LogWarning(e, "Auditor election round of {Candidate} failed", _candidateId);
                try
                {
                    await Task.Delay(RetryDelay, ct).ConfigureAwait(false);
                }
                catch (OperationCanceledException)
                {
                    break;
                }
            }
        }
        if (_myPath is { } mine)
        {
            try
            {
                await _store.DeleteAsync(mine, null, CancellationToken.None).ConfigureAwait(false);
            }
            catch (Exception e) when (e is MetadataStoreException)
            {
                // Gone already, or the session is: either way the record ends.
            }
        }
    }

    /// <summary>One election round; returns true when it led (and stopped leading), false when it must wait.</summary>
    private async Task<bool> TryLeadAsync(CancellationToken ct)
    {
        if (_myPath is null)
        {
            _myPath = await _store.CreateAsync(MetadataPaths.Auditor + "/" + AutoRecoveryPaths.AuditorCandidatePrefix,
                Encoding.UTF8.GetBytes(_candidateId), CreateOptions.Ephemeral | CreateOptions.Sequential, ct).ConfigureAwait(false);
        }
        string myName = _myPath[(_myPath.LastIndexOf('/') + 1)..];
        var candidates = SortedCandidates(await _store.GetChildrenAsync(MetadataPaths.Auditor, ct).ConfigureAwait(false));
        int mine = candidates.IndexOf(myName);
        if (mine < 0)
        {
            _myPath = null; // lost with an old session: stand again
            return true;
        }
        if (await RemoveStaleCandidaciesAsync(candidates, mine, ct).ConfigureAwait(false))
        {
            return true;
        }
        if (mine > 0)
        {
            // Watch only the predecessor (no herd effect when the leader dies).
            string predecessor = MetadataPaths.Auditor + "/" + candidates[mine - 1];
            _watchedPath = predecessor;
            return !await _store.ExistsAsync(predecessor, ct).ConfigureAwait(false);
        }
        // Lowest sequence number: lead until the record or the session is lost.
        using var leadership = CancellationTokenSource.CreateLinkedTokenSource(ct);
        Volatile.Write(ref _leadership, leadership);
        _watchedPath = null;
        if (!await _store.ExistsAsync(_myPath, ct).ConfigureAwait(false))
        {
            leadership.Cancel();
        }
        _logger.LogInformation("{Candidate} is the auditor", _candidateId);
        try
        {
            await _leaderWork(leadership.Token).ConfigureAwait(false);
        }
        catch (OperationCanceledException) when (leadership.IsCancellationRequested)
        {
            // Leadership ended.
        }
        finally
        {
            Volatile.Write(ref _leadership, null);
        }
        _logger.LogInformation("{Candidate} is no longer the auditor", _candidateId);
        return true;
    }

    /// <summary>
    /// A candidacy counts only under the candidate's current session (DESIGN §9): ours under an earlier session (a
    /// create answered just before the session expired) and our candidacies left by an earlier session before ours
    /// (which would otherwise lead, or block us, until the server expires that session) are deleted. Returns true
    /// when our own candidacy was not current and the round must start again.
    /// </summary>
    private async Task<bool> RemoveStaleCandidaciesAsync(List<string> candidates, int mine, CancellationToken ct)
    {
        var myRecord = await _store.GetAsync(_myPath!, ct).ConfigureAwait(false);
        // Read after the call: it waited for a live session, so this is no older than the one that answered.
        long session = _store.SessionId;
        if (myRecord is null || myRecord.Stat.EphemeralOwner != session)
        {
            if (myRecord is not null)
            {
                _logger.LogWarning("Replacing auditor candidacy {Path} of {Candidate} left by session {OwnerSession:x}",
                    _myPath, _candidateId, myRecord.Stat.EphemeralOwner);
                await DeleteQuietlyAsync(_myPath!, myRecord.Stat.Version, ct).ConfigureAwait(false);
            }
            _myPath = null;
            return true;
        }
        for (int i = 0; i < mine; i++)
        {
            string path = MetadataPaths.Auditor + "/" + candidates[i];
            var record = await _store.GetAsync(path, ct).ConfigureAwait(false);
            if (record is not null && record.Stat.EphemeralOwner != session
                && Encoding.UTF8.GetString(record.Value) == _candidateId)
            {
                _logger.LogWarning("Deleting auditor candidacy {Path} of {Candidate} left by session {OwnerSession:x}",
                    path, _candidateId, record.Stat.EphemeralOwner);
                await DeleteQuietlyAsync(path, record.Stat.Version, ct).ConfigureAwait(false);
            }
        }
        return false;
    }

    private async Task DeleteQuietlyAsync(string path, long version, CancellationToken ct)
    {
        try
        {
            await _store.DeleteAsync(path, version, ct).ConfigureAwait(false);
        }
        catch (Exception e) when (e is NoNodeException or BadVersionException)
        {
            // Gone already (its session expired) or changed: either way not ours to delete now.
        }
    }

    private static List<string> SortedCandidates(IReadOnlyList<string> children)
    {
        var candidates = new List<string>(children.Count);
        foreach (string child in children)
        {
            if (child.StartsWith(AutoRecoveryPaths.AuditorCandidatePrefix, StringComparison.Ordinal))
            {
                candidates.Add(child);
            }
        }
        // The 10-digit sequential suffix sorts ordinally.
        candidates.Sort(StringComparer.Ordinal);
        return candidates;
    }

    public async ValueTask DisposeAsync()
    {
        _stop.Cancel();
        EndLeadership();
        if (_loop is not null)
        {
            await _loop.ConfigureAwait(false);
        }
        _listener.Dispose();
        _store.SessionEventRaised -= OnSessionEvent;
        _stop.Dispose();
    }
}
