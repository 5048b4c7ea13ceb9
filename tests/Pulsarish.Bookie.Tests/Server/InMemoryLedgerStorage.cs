using Pulsarish.Bookie.Storage;
using Pulsarish.Protocol.Errors;

namespace Pulsarish.Bookie.Tests.Server;

/// <summary>
/// A fast in-memory <see cref="ILedgerStorage"/> for unit tests of the gRPC service only (no durability). Adds
/// complete asynchronously after a random short delay, so pipelined adds complete out of order.
/// </summary>
internal sealed class InMemoryLedgerStorage : ILedgerStorage
{
    private readonly object _lock = new();
    private readonly Dictionary<long, Ledger> _ledgers = new();
    private readonly int _maxDelayMicros;

    public InMemoryLedgerStorage(int maxDelayMicros = 2_000) => _maxDelayMicros = maxDelayMicros;

    /// <summary>When set, an add of this entry id throws an IOException (an internal failure).</summary>
    public long FailingEntryId { get; set; } = -1;

    public int Adds;

    /// <summary>When set, adds are stored but do not complete (are not "durable") until the gate's task completes.</summary>
    public TaskCompletionSource? DurabilityGate { get; set; }

    public async ValueTask AddEntryAsync(long ledgerId, long entryId, ReadOnlyMemory<byte> masterKey, long lac,
        ReadOnlyMemory<byte> entry, bool recovery, CancellationToken ct = default)
    {
        if (entryId == FailingEntryId)
        {
            throw new IOException("injected disk failure");
        }

        byte[] copy = entry.ToArray();
        lock (_lock)
        {
            var ledger = GetOrCreate(ledgerId, masterKey);
            if (ledger.Fenced && !recovery)
            {
                throw new LedgerFencedException(ledgerId);
            }

            ledger.Entries[entryId] = copy;
            ledger.Lac = Math.Max(ledger.Lac, lac);
        }

        Interlocked.Increment(ref Adds);
        if (DurabilityGate is { } gate)
        {
            await gate.Task.WaitAsync(ct);
        }

        if (_maxDelayMicros > 0)
        {
            await Task.Delay(TimeSpan.FromMicroseconds(Random.Shared.Next(_maxDelayMicros)), ct);
        }
        else
        {
            await Task.Yield();
        }
    }

    public ValueTask<byte[]> ReadEntryAsync(long ledgerId, long entryId, CancellationToken ct = default)
    {
        lock (_lock)
        {
            if (!_ledgers.TryGetValue(ledgerId, out var ledger))
            {
                throw new NoSuchLedgerException(ledgerId);
            }

            if (!ledger.Entries.TryGetValue(entryId, out var bytes))
            {
                throw new NoSuchEntryException(ledgerId, entryId);
            }

            return ValueTask.FromResult(bytes.ToArray());
        }
    }

    public ValueTask<LedgerInfo> FenceAsync(long ledgerId, ReadOnlyMemory<byte> masterKey, CancellationToken ct = default)
    {
        lock (_lock)
        {
            var ledger = GetOrCreate(ledgerId, masterKey);
            ledger.Fenced = true;
            return ValueTask.FromResult(Info(ledger));
        }
    }

    public LedgerInfo? GetLedgerInfo(long ledgerId)
    {
        lock (_lock)
        {
            return _ledgers.TryGetValue(ledgerId, out var ledger) ? Info(ledger) : null;
        }
    }

    /// <summary>No journal: nothing to accept.</summary>
    public IReadOnlyList<JournalCorruption> AcceptedJournalCorruption => [];

    /// <summary>No journal or caches: only the ledger count is real.</summary>
    public StorageStats GetStats()
    {
        lock (_lock)
        {
            return new StorageStats(0, 0, 0, 0, 0, 0, 0, _ledgers.Count, 0, 0, 0);
        }
    }

    public IReadOnlyCollection<long> ListLedgers()
    {
        lock (_lock)
        {
            return _ledgers.Keys.ToArray();
        }
    }

    public ValueTask DeleteLedgerAsync(long ledgerId, CancellationToken ct = default)
    {
        lock (_lock)
        {
            _ledgers.Remove(ledgerId);
        }

        return ValueTask.CompletedTask;
    }

    public ValueTask<GcResult> CollectGarbageAsync(Func<long, bool> isLive, GcTrigger trigger = GcTrigger.Forced,
        CancellationToken ct = default)
        => ValueTask.FromResult(new GcResult());

    public ValueTask FlushAsync(CancellationToken ct = default) => ValueTask.CompletedTask;

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    private Ledger GetOrCreate(long ledgerId, ReadOnlyMemory<byte> masterKey)
    {
        if (!_ledgers.TryGetValue(ledgerId, out var ledger))
        {
            ledger = new Ledger(masterKey.ToArray());
            _ledgers[ledgerId] = ledger;
        }
        else if (!ledger.MasterKey.AsSpan().SequenceEqual(masterKey.Span))
        {
            throw new UnauthorizedException($"wrong master key for ledger {ledgerId}");
        }

        return ledger;
    }

    private static LedgerInfo Info(Ledger ledger)
        => new(ledger.Fenced, ledger.Lac, ledger.Entries.Count == 0 ? -1 : ledger.Entries.Keys.Max());

    private sealed class Ledger(byte[] masterKey)
    {
        public byte[] MasterKey { get; } = masterKey;
        public Dictionary<long, byte[]> Entries { get; } = new();
        public bool Fenced { get; set; }
        public long Lac { get; set; } = -1;
    }
}
