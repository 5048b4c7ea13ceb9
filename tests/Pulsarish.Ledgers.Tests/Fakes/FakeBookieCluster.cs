using System.Collections.Concurrent;
using Pulsarish.Protocol.Checksums;
using Pulsarish.Ledgers;
using Pulsarish.Protocol.Bookie;
using Pulsarish.Protocol.Metadata;

namespace Pulsarish.Ledgers.Tests.Fakes;

/// <summary>
/// In-memory bookies for fast unit tests of the client's ordering, quorum, fencing and recovery logic. Each bookie
/// stores entries, fences ledgers and answers asynchronously; tests can take one down, make it hang, delay it,
/// add random jitter (out-of-order answers) or hold its answers and release them by hand.
/// </summary>
public sealed class FakeBookieCluster : IBookieClient, IBookieDirectory
{
    private readonly ConcurrentDictionary<string, FakeBookie> _bookies = new(StringComparer.Ordinal);
    private readonly Random _random;

    public FakeBookieCluster(int seed = 1) => _random = new Random(seed);

    public FakeBookie AddBookie(string id, string rack = "")
    {
        var bookie = new FakeBookie(id, rack);
        _bookies[id] = bookie;
        return bookie;
    }

    public FakeBookie this[string id] => _bookies[id];

    public IReadOnlyCollection<FakeBookie> Bookies => _bookies.Values.OrderBy(b => b.Id).ToList();

    /// <summary>How long a read, fence or read-LAC to a hung bookie takes to fail.</summary>
    public TimeSpan HungReadDeadline { get; set; } = TimeSpan.FromMilliseconds(200);

    /// <summary>Maximum random delay of each answer (0: answer on the thread pool at once).</summary>
    public int MaxJitterMicros { get; set; }

    public Task<IReadOnlyList<BookieServiceInfo>> GetAvailableAsync(CancellationToken ct = default)
    {
        var list = new List<BookieServiceInfo>();
        foreach (var bookie in _bookies.Values.OrderBy(b => b.Id))
        {
            if (bookie.Registered && !bookie.Down)
            {
                list.Add(new BookieServiceInfo { BookieId = bookie.Id, Address = "fake:" + bookie.Id, Rack = bookie.Rack });
            }
        }
        return Task.FromResult<IReadOnlyList<BookieServiceInfo>>(list);
    }

    public void AddEntry(string bookieId, in BookieAddRequest request, IAddCallback callback, object? context)
    {
        var bookie = _bookies[bookieId];
        var copy = request with { Payload = request.Payload.ToArray(), MasterKey = request.MasterKey.ToArray() };
        if (bookie.Hung)
        {
            return;
        }
        if (bookie.Manual)
        {
            bookie.Held.Enqueue(new HeldAdd(copy, callback, context));
            return;
        }
        int delayMicros = (int)bookie.AddDelay.TotalMicroseconds + Jitter();
        Schedule(delayMicros, () =>
        {
            if (bookie.Hung)
            {
                return;
            }
            var status = bookie.ApplyAdd(copy);
            callback.AddComplete(status, bookieId, copy.LedgerId, copy.EntryId, context);
        });
    }

    public Task<BookieReadResult> ReadEntryAsync(string bookieId, long ledgerId, long entryId, bool fence,
        ReadOnlyMemory<byte> masterKey, CancellationToken ct = default)
    {
        var bookie = _bookies[bookieId];
        return Answer(bookie, ct, () => bookie.Read(ledgerId, entryId, fence), BookieReadResult.Failed(StatusCode.Error));
    }

    public Task<BookieLacResult> ReadLacAsync(string bookieId, long ledgerId, CancellationToken ct = default)
    {
        var bookie = _bookies[bookieId];
        return Answer(bookie, ct, () => bookie.ReadLac(ledgerId, fence: false), BookieLacResult.Failed(StatusCode.Error));
    }

    public Task<BookieLacResult> FenceAsync(string bookieId, long ledgerId, ReadOnlyMemory<byte> masterKey,
        CancellationToken ct = default)
    {
        var bookie = _bookies[bookieId];
        return Answer(bookie, ct, () => bookie.ReadLac(ledgerId, fence: true), BookieLacResult.Failed(StatusCode.Error));
    }

    private async Task<T> Answer<T>(FakeBookie bookie, CancellationToken ct, Func<T> action, T failed)
    {
        int delayMicros = (int)bookie.ReadDelay.TotalMicroseconds + Jitter();
        try
        {
            if (bookie.Hung)
            {
                // A stuck bookie: the caller's deadline passes, as a gRPC deadline would.
                await Task.Delay(HungReadDeadline, ct);
                return failed;
            }
            if (delayMicros > 0)
            {
                await Task.Delay(TimeSpan.FromMicroseconds(delayMicros), ct);
            }
            else
            {
                await Task.Yield();
            }
        }
        catch (OperationCanceledException)
        {
            return failed;
        }
        return bookie.Down ? failed : action();
    }

    private int Jitter()
    {
        if (MaxJitterMicros <= 0)
        {
            return 0;
        }
        lock (_random)
        {
            return _random.Next(MaxJitterMicros);
        }
    }

    private static void Schedule(int delayMicros, Action action)
    {
        if (delayMicros <= 0)
        {
            ThreadPool.UnsafeQueueUserWorkItem(static a => a(), action, preferLocal: false);
        }
        else
        {
            _ = Task.Delay(TimeSpan.FromMicroseconds(Math.Max(delayMicros, 1000))).ContinueWith(_ => action(), TaskScheduler.Default);
        }
    }

    public ValueTask DisposeAsync() => ValueTask.CompletedTask;

    public sealed record HeldAdd(BookieAddRequest Request, IAddCallback Callback, object? Context);

    /// <summary>One in-memory bookie.</summary>
    public sealed class FakeBookie(string id, string rack)
    {
        private readonly object _lock = new();
        private readonly Dictionary<(long Ledger, long Entry), (long Lac, uint Digest, byte[] Payload)> _entries = new();
        private readonly HashSet<long> _fenced = new();
        private readonly Dictionary<long, long> _lac = new();

        public string Id { get; } = id;
        public string Rack { get; } = rack;
        public volatile bool Registered = true;
        /// <summary>Every request fails with ERROR (as a stopped bookie).</summary>
        public volatile bool Down;
        /// <summary>Requests are never answered (as a stuck bookie).</summary>
        public volatile bool Hung;
        /// <summary>Adds are held in <see cref="Held"/> until the test releases them.</summary>
        public volatile bool Manual;
        public TimeSpan AddDelay = TimeSpan.Zero;
        public TimeSpan ReadDelay = TimeSpan.Zero;
        public readonly ConcurrentQueue<HeldAdd> Held = new();
        public int AddsReceived;

        /// <summary>Answers held adds (applying them) in the order given by <paramref name="order"/>.</summary>
        public void Release(Func<IEnumerable<HeldAdd>, IEnumerable<HeldAdd>>? order = null, StatusCode? forcedStatus = null)
        {
            var held = new List<HeldAdd>();
            while (Held.TryDequeue(out var add))
            {
                held.Add(add);
            }
            foreach (var add in order is null ? held : order(held))
            {
                var status = forcedStatus ?? ApplyAdd(add.Request);
                add.Callback.AddComplete(status, Id, add.Request.LedgerId, add.Request.EntryId, add.Context);
            }
        }

        public StatusCode ApplyAdd(BookieAddRequest request)
        {
            Interlocked.Increment(ref AddsReceived);
            if (Down)
            {
                return StatusCode.Error;
            }
            if (!EntryDigest.Verify(request.LedgerId, request.EntryId, request.Lac, request.Payload.Span, request.Digest))
            {
                return StatusCode.BadRequest;
            }
            lock (_lock)
            {
                if (_fenced.Contains(request.LedgerId) && !request.Recovery)
                {
                    return StatusCode.Fenced;
                }
                _entries[(request.LedgerId, request.EntryId)] = (request.Lac, request.Digest, request.Payload.ToArray());
                _lac[request.LedgerId] = Math.Max(_lac.GetValueOrDefault(request.LedgerId, -1), request.Lac);
                return StatusCode.Ok;
            }
        }

        public BookieReadResult Read(long ledgerId, long entryId, bool fence)
        {
            lock (_lock)
            {
                if (fence)
                {
                    _fenced.Add(ledgerId);
                }
                if (_entries.TryGetValue((ledgerId, entryId), out var entry))
                {
                    return new BookieReadResult(StatusCode.Ok, entry.Lac, entry.Digest, entry.Payload);
                }
                return BookieReadResult.Failed(_lac.ContainsKey(ledgerId) ? StatusCode.NoSuchEntry : StatusCode.NoSuchLedger);
            }
        }

        public BookieLacResult ReadLac(long ledgerId, bool fence)
        {
            lock (_lock)
            {
                if (fence)
                {
                    _fenced.Add(ledgerId);
                }
                long last = -1;
                foreach (var key in _entries.Keys)
                {
                    if (key.Ledger == ledgerId)
                    {
                        last = Math.Max(last, key.Entry);
                    }
                }
                return new BookieLacResult(StatusCode.Ok, _lac.GetValueOrDefault(ledgerId, -1), last, _fenced.Contains(ledgerId));
            }
        }

        public bool Has(long ledgerId, long entryId)
        {
            lock (_lock)
            {
                return _entries.ContainsKey((ledgerId, entryId));
            }
        }

        public SortedSet<long> EntriesOf(long ledgerId)
        {
            lock (_lock)
            {
                var set = new SortedSet<long>();
                foreach (var key in _entries.Keys)
                {
                    if (key.Ledger == ledgerId)
                    {
                        set.Add(key.Entry);
                    }
                }
                return set;
            }
        }

        /// <summary>Flips a payload byte of a stored entry (to test digest verification).</summary>
        public void Corrupt(long ledgerId, long entryId)
        {
            lock (_lock)
            {
                var entry = _entries[(ledgerId, entryId)];
                var payload = (byte[])entry.Payload.Clone();
                payload[^1] ^= 0xFF;
                _entries[(ledgerId, entryId)] = (entry.Lac, entry.Digest, payload);
            }
        }

        /// <summary>Stores an entry as if a writer had reached only this bookie.</summary>
        public void Plant(BookieAddRequest request) => ApplyAdd(request);
    }
}
