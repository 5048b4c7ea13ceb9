using Pulsarish.Metadata;

namespace Pulsarish.AutoRecovery.Tests;

/// <summary>
/// Forwards to a real store and runs a hook once right after a child listing of <see cref="HookedPath"/> returned,
/// before the caller sees it (fault injection: "something happened during the scan").
/// </summary>
public sealed class HookedMetadataStore(IMetadataStore inner, string hookedPath, Func<Task> afterListing) : IMetadataStore
{
    private int _fired;

    public string HookedPath { get; } = hookedPath;

    public async Task<IReadOnlyList<string>> GetChildrenAsync(string path, CancellationToken ct = default)
    {
        var children = await inner.GetChildrenAsync(path, ct);
        if (path == HookedPath && Interlocked.Exchange(ref _fired, 1) == 0)
        {
            await afterListing();
        }
        return children;
    }

    public long SessionId => inner.SessionId;
    public Task<GetResult?> GetAsync(string path, CancellationToken ct = default) => inner.GetAsync(path, ct);
    public Task<bool> ExistsAsync(string path, CancellationToken ct = default) => inner.ExistsAsync(path, ct);
    public Task<Stat> PutAsync(string path, ReadOnlyMemory<byte> value, long? expectedVersion, CancellationToken ct = default)
        => inner.PutAsync(path, value, expectedVersion, ct);
    public Task<string> CreateAsync(string path, ReadOnlyMemory<byte> value, CreateOptions options, CancellationToken ct = default)
        => inner.CreateAsync(path, value, options, ct);
    public Task DeleteAsync(string path, long? expectedVersion, CancellationToken ct = default) => inner.DeleteAsync(path, expectedVersion, ct);
    public Task DeleteRecursiveAsync(string path, CancellationToken ct = default) => inner.DeleteRecursiveAsync(path, ct);
    public IDisposable RegisterListener(Action<Notification> listener) => inner.RegisterListener(listener);

    public event Action<SessionEvent>? SessionEventRaised
    {
        add => inner.SessionEventRaised += value;
        remove => inner.SessionEventRaised -= value;
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;
}
