using Pulsarish.Protocol.Broker;

namespace Pulsarish.Client;

/// <summary>
/// Reassembles chunked messages on one partition consumer (Pulsar's ConsumerImpl chunk handling): the chunks of a
/// uuid must arrive as chunk 0, 1, … n−1 (they are consecutive entries of one producer); the last one yields one
/// message whose id is the last chunk's, remembered with every chunk id so that acknowledging the message
/// acknowledges all its chunks. Bounded: at most <see cref="ConsumerOptions.MaxPendingChunkedMessage"/> messages in
/// assembly; the oldest is dropped for room — acknowledged with
/// <see cref="ConsumerOptions.AutoAckOldestChunkedMessageOnQueueFull"/>, else left unacknowledged with its later
/// chunks (redelivered together after a reconnect or a redelivery request, as Pulsar leaves them to its ack timeout).
/// An incomplete message older than <see cref="ConsumerOptions.ExpireTimeOfIncompleteChunkedMessage"/> is dropped
/// and its chunks acknowledged, so a producer that died mid-message leaves nothing behind; a stray chunk (its first
/// chunk never seen) is acknowledged once that much older than its publish time. Thread-safe.
/// </summary>
internal sealed class ChunkedMessageAssembler
{
    private readonly object _lock = new();
    private readonly ConsumerOptions _options;
    private readonly Dictionary<string, Pending> _pending = new(StringComparer.Ordinal);
    private readonly Dictionary<MessageId, MessageId[]> _delivered = new();
    private readonly Queue<(MessageId Id, long AckAtMillis)> _strays = new();
    private readonly HashSet<string> _droppedUuids = new(StringComparer.Ordinal);
    private readonly Queue<string> _droppedOrder = new();
    private long _nextOrder;

    /// <summary>Stray chunks waiting for their expiry, and uuids remembered as dropped: bounds of this assembler.</summary>
    private const int MaxTracked = 10_000;

    public ChunkedMessageAssembler(ConsumerOptions options) => _options = options;

    /// <summary>What the consumer must do with chunks it drops: acknowledge them (discarded for good).</summary>
    public readonly record struct Dropped(List<MessageId>? Ack);

    /// <summary>
    /// Takes one chunk (<paramref name="id"/> already carries the partition). Returns the whole payload and the chunk
    /// ids when it was the last chunk, else null; <paramref name="dropped"/> lists chunks to acknowledge.
    /// </summary>
    public byte[]? Add(ReceivedMessage message, MessageId id, out Dropped dropped)
    {
        var chunk = message.Chunk;
        List<MessageId>? ack = null;
        byte[]? complete = null;
        long now = Environment.TickCount64;
        lock (_lock)
        {
            ExpireLocked(now, ref ack);
            _pending.TryGetValue(chunk.Uuid, out var assembly);
            bool valid = chunk.NumChunks >= 1 && chunk.ChunkId >= 0 && chunk.ChunkId < chunk.NumChunks
                         && chunk.TotalSize >= 0 && chunk.TotalSize <= StoredBatchLimit;
            if (valid && chunk.ChunkId == 0)
            {
                if (assembly is not null)
                {
                    // The first chunk again (a redelivery): start over; chunks at other positions are dropped.
                    _pending.Remove(chunk.Uuid);
                    foreach (var old in assembly.Ids)
                    {
                        if (old != id)
                        {
                            (ack ??= new()).Add(old);
                        }
                    }
                }

                if (_pending.Count >= _options.MaxPendingChunkedMessage)
                {
                    DropOldestLocked(ref ack);
                }

                _droppedUuids.Remove(chunk.Uuid);
                assembly = new Pending(chunk.NumChunks, new byte[chunk.TotalSize], now, _nextOrder++);
                _pending[chunk.Uuid] = assembly;
            }
            else if (!valid || assembly is null || assembly.NextChunk != chunk.ChunkId || assembly.NumChunks != chunk.NumChunks)
            {
                // Out of order, or its first chunk is gone: the message cannot be completed from here.
                if (assembly is not null)
                {
                    _pending.Remove(chunk.Uuid);
                    (ack ??= new()).AddRange(assembly.Ids);
                }

                if (valid && _droppedUuids.Contains(chunk.Uuid))
                {
                    // Its first chunks were dropped for room and left unacknowledged: so is this one (redelivered together).
                }
                else
                {
                    // As Pulsar: acknowledged once older than the expiry time (by publish time), held until then.
                    long expireMillis = (long)_options.ExpireTimeOfIncompleteChunkedMessage.TotalMilliseconds;
                    long ageMillis = DateTimeOffset.UtcNow.ToUnixTimeMilliseconds() - message.PublishTimeMillis;
                    if (!valid || ageMillis >= expireMillis || _strays.Count >= MaxTracked)
                    {
                        (ack ??= new()).Add(id);
                    }
                    else
                    {
                        _strays.Enqueue((id, now + expireMillis - Math.Max(0, ageMillis)));
                    }
                }

                dropped = new Dropped(ack);
                return null;
            }

            var payload = message.Payload.Span;
            if (assembly.Filled + payload.Length > assembly.Buffer.Length
                || (chunk.ChunkId == chunk.NumChunks - 1 && assembly.Filled + payload.Length != assembly.Buffer.Length))
            {
                // The chunks do not add up to the announced size: corrupt, drop the message.
                _pending.Remove(chunk.Uuid);
                (ack ??= new()).AddRange(assembly.Ids);
                ack.Add(id);
                dropped = new Dropped(ack);
                return null;
            }

            payload.CopyTo(assembly.Buffer.AsSpan(assembly.Filled));
            assembly.Filled += payload.Length;
            assembly.Ids.Add(id);
            assembly.NextChunk++;
            if (assembly.NextChunk == assembly.NumChunks)
            {
                _pending.Remove(chunk.Uuid);
                _delivered[id] = assembly.Ids.ToArray();
                complete = assembly.Buffer;
            }
        }

        dropped = new Dropped(ack);
        return complete;
    }

    /// <summary>Largest total size accepted for one chunked message (a bound on what a first chunk may make us allocate).</summary>
    private const int StoredBatchLimit = 1 << 30;

    /// <summary>Drops expired incomplete messages; returns the chunk ids to acknowledge.</summary>
    public List<MessageId>? Expire()
    {
        List<MessageId>? ack = null;
        lock (_lock)
        {
            ExpireLocked(Environment.TickCount64, ref ack);
        }

        return ack;
    }

    /// <summary>Whether a message is being assembled (the consumer then checks expiry on a timer).</summary>
    public bool HasPending
    {
        get
        {
            lock (_lock)
            {
                return _pending.Count > 0 || _strays.Count > 0;
            }
        }
    }

    /// <summary>The chunk ids behind a delivered chunked message's id (the id itself for any other message).</summary>
    public void Expand(MessageId id, List<MessageId> into)
    {
        lock (_lock)
        {
            if (_delivered.TryGetValue(id, out var chunks))
            {
                into.AddRange(chunks);
                return;
            }
        }

        into.Add(id);
    }

    /// <summary>Forgets a delivered chunked message once it was acknowledged.</summary>
    public void Forget(MessageId id)
    {
        lock (_lock)
        {
            _delivered.Remove(id);
        }
    }

    /// <summary>Forgets every delivered chunked message up to <paramref name="id"/> (a cumulative ack).</summary>
    public void ForgetUpTo(MessageId id)
    {
        lock (_lock)
        {
            if (_delivered.Count == 0)
            {
                return;
            }

            List<MessageId>? done = null;
            foreach (var key in _delivered.Keys)
            {
                if (key <= id)
                {
                    (done ??= new()).Add(key);
                }
            }

            foreach (var key in done ?? [])
            {
                _delivered.Remove(key);
            }
        }
    }

    /// <summary>After a disconnect: the broker redelivers every unacknowledged chunk, so assembly starts over.</summary>
    public void Clear()
    {
        lock (_lock)
        {
            _pending.Clear();
            _delivered.Clear();
            _strays.Clear();
            _droppedUuids.Clear();
            _droppedOrder.Clear();
        }
    }

    private void ExpireLocked(long now, ref List<MessageId>? ack)
    {
        long expireMillis = (long)_options.ExpireTimeOfIncompleteChunkedMessage.TotalMilliseconds;
        List<string>? expired = null;
        foreach (var (uuid, assembly) in _pending)
        {
            if (now - assembly.StartedMillis >= expireMillis)
            {
                (expired ??= new()).Add(uuid);
                (ack ??= new()).AddRange(assembly.Ids);
            }
        }

        foreach (var uuid in expired ?? [])
        {
            _pending.Remove(uuid);
        }

        while (_strays.TryPeek(out var stray) && stray.AckAtMillis <= now)
        {
            _strays.Dequeue();
            (ack ??= new()).Add(stray.Id);
        }
    }

    private void DropOldestLocked(ref List<MessageId>? ack)
    {
        string? oldest = null;
        long oldestOrder = long.MaxValue;
        foreach (var (uuid, assembly) in _pending)
        {
            if (assembly.Order < oldestOrder)
            {
                oldest = uuid;
                oldestOrder = assembly.Order;
            }
        }

        if (oldest is null)
        {
            return;
        }

        var ids = _pending[oldest].Ids;
        _pending.Remove(oldest);
        if (_options.AutoAckOldestChunkedMessageOnQueueFull)
        {
            (ack ??= new()).AddRange(ids);
        }
        else
        {
            // Left unacknowledged, and so are its later chunks: redelivered together after a reconnect.
            if (_droppedUuids.Add(oldest))
            {
                _droppedOrder.Enqueue(oldest);
                if (_droppedOrder.Count > MaxTracked)
                {
                    _droppedUuids.Remove(_droppedOrder.Dequeue());
                }
            }
        }
    }

    private sealed class Pending(int numChunks, byte[] buffer, long startedMillis, long order)
    {
        public long Order { get; } = order;
        public int NumChunks { get; } = numChunks;
        public byte[] Buffer { get; } = buffer;
        public long StartedMillis { get; } = startedMillis;
        public List<MessageId> Ids { get; } = new();
        public int Filled { get; set; }
        public int NextChunk { get; set; }
    }
}
