using System.Buffers.Binary;
using Microsoft.Extensions.Logging;
using Microsoft.Extensions.Logging.Abstractions;
using Pulsarish.Protocol.Errors;

namespace Pulsarish.Metadata;

/// <summary>
/// Hands out ledger ids that are never repeated, across processes and crashes: ranges of ids are claimed by a
/// versioned compare-and-set on the counter record <see cref="MetadataPaths.LedgerIdGenerator"/> (8 bytes, big-endian:
/// the first id not yet claimed), and ids are then handed out from the claimed range in memory. A crash loses at
/// most the rest of its range (gaps), never uniqueness. Ids start at 1. Thread-safe.
/// </summary>
public sealed class LedgerIdGenerator
{
    /// <summary>Default ids claimed per compare-and-set.</summary>
    public const int DefaultRangeSize = 1000;

    private const long FirstLedgerId = 1;

    private readonly IMetadataStore _store;
    private readonly int _rangeSize;
    private readonly ILogger _logger;
    private readonly SemaphoreSlim _lock = new(1, 1);
    private long _next;
    private long _limit;

    public LedgerIdGenerator(IMetadataStore store, int rangeSize = DefaultRangeSize, ILogger<LedgerIdGenerator>? logger = null)
    {
        ArgumentNullException.ThrowIfNull(store);
        ArgumentOutOfRangeException.ThrowIfLessThan(rangeSize, 1);
        _store = store;
        _rangeSize = rangeSize;
        _logger = logger ?? NullLogger<LedgerIdGenerator>.Instance;
    }

    /// <summary>
    /// A fresh ledger id, greater than <paramref name="aboveExclusive"/>. Ranges are claimed in increasing order
    /// across all generators, but a generator keeps serving an old range while others claim newer ones, so ids are
    /// not monotonic across processes. A managed ledger needs its ledgers in id order (its positions compare by
    /// ledger id), so it passes its last ledger id: when the local range is not above it, the rest of the range is
    /// dropped and a new one claimed — which lies above every id handed out before, the floor included.
    /// </summary>
    public async Task<long> NextAsync(long aboveExclusive = 0, CancellationToken ct = default)
    {
        await _lock.WaitAsync(ct).ConfigureAwait(false);
        try
        {
            if (_next >= _limit || _next <= aboveExclusive)
            {
                (_next, _limit) = await ClaimRangeAsync(ct).ConfigureAwait(false);
                if (_next <= aboveExclusive)
                {
                    // Only possible if the floor was never handed out by any generator of this store.
                    throw new InvalidOperationException(
                        $"ledger id floor {aboveExclusive} is above the claimed ids [{_next}, {_limit})");
                }
            }
            return _next++;
        }
        finally
        {
            _lock.Release();
        }
    }

    private async Task<(long First, long Limit)> ClaimRangeAsync(CancellationToken ct)
    {
        byte[] value = new byte[8];
        while (true)
        {
            ct.ThrowIfCancellationRequested();
            var current = await _store.GetAsync(MetadataPaths.LedgerIdGenerator, ct).ConfigureAwait(false);
            long first = current is null ? FirstLedgerId : Decode(current.Value);
            long limit = checked(first + _rangeSize);
            BinaryPrimitives.WriteInt64BigEndian(value, limit);
            try
            {
                // Claim [first, limit): only one claimer can move the counter from the version it read.
                await _store.PutAsync(MetadataPaths.LedgerIdGenerator, value, current?.Stat.Version ?? -1, ct)
                    .ConfigureAwait(false);
                _logger.LogDebug("Claimed ledger ids [{First}, {Limit})", first, limit);
                return (first, limit);
            }
            catch (Exception e) when (e is BadVersionException or NodeExistsException or NoNodeException)
            {
                // Another generator claimed a range concurrently: read again.
            }
        }
    }

    private static long Decode(byte[] value)
    {
        if (value.Length != 8)
        {
            throw new InvalidMetadataException(MetadataPaths.LedgerIdGenerator, $"counter has {value.Length} bytes, expected 8");
        }
        long next = BinaryPrimitives.ReadInt64BigEndian(value);
        if (next < FirstLedgerId)
        {
            throw new InvalidMetadataException(MetadataPaths.LedgerIdGenerator, $"counter {next} below {FirstLedgerId}");
        }
        return next;
    }
}
