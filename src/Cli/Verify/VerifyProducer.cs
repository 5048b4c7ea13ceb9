using System.Diagnostics;
using Pulsarish.Client;

namespace Pulsarish.Cli.Verify;

/// <summary>Settings of <c>verify produce</c>.</summary>
public sealed class VerifyProduceOptions
{
    public string Topic { get; set; } = "";

    /// <summary>Producer names are <c>PREFIX-0</c> … <c>PREFIX-(K-1)</c>.</summary>
    public string Prefix { get; set; } = "verify";

    public int Producers { get; set; } = 2;

    /// <summary>Messages per second over all producers.</summary>
    public int Rate { get; set; } = 200;

    public TimeSpan Duration { get; set; } = TimeSpan.FromSeconds(60);

    /// <summary>Sends awaiting their receipt, per producer, at most.</summary>
    public int MaxInFlight { get; set; } = 100;

    /// <summary>A send not acknowledged within this is counted as timed out (it may still be stored: never assumed either way).</summary>
    public TimeSpan SendTimeout { get; set; } = TimeSpan.FromSeconds(30);

    /// <summary>Pad each payload to at least this many bytes (large writes for torn-journal).</summary>
    public int PayloadBytes { get; set; }

    public bool Batching { get; set; } = true;
}

/// <summary>What one produce phase did. Times are milliseconds since its first send.</summary>
public sealed class ProduceSummary
{
    public long Attempted;
    public long Acked;
    public long Errors;
    public long Timeouts;
    /// <summary>Sends still without an outcome when the producers closed.</summary>
    public long Unresolved;
    public long LongestGapMillis;
    public long LongestGapStartMillis;
    public Dictionary<string, long> ErrorReasons { get; } = new(StringComparer.Ordinal);
    /// <summary>(send started, acknowledged) per acknowledged send.</summary>
    public List<(long SentMillis, long AckedMillis)> AckTimes { get; } = [];

    /// <summary>
    /// Time to recover from a fault injected at <paramref name="faultMillis"/> and healed at <paramref name="healedMillis"/>:
    /// to the end of the last pause of acknowledgements longer than <paramref name="stallMillis"/> after the fault (to the
    /// first acknowledgement after it when writes never stalled); null when nothing was acknowledged after the heal
    /// (writes did not resume).
    /// </summary>
    public long? RecoveryAfter(long faultMillis, long healedMillis, long stallMillis = 1000)
    {
        var acks = AckTimes.Select(a => a.AckedMillis).Order().ToList();
        if (acks.Count == 0 || acks[^1] < healedMillis) return null;
        long? end = null;
        long previous = faultMillis;
        foreach (long t in acks)
        {
            if (t < faultMillis) continue;
            end ??= t;
            if (t - previous > stallMillis) end = t;
            previous = t;
        }
        return end - faultMillis;
    }

    public override string ToString() =>
        $"attempted {Attempted}, acknowledged {Acked}, errors {Errors}, timeouts {Timeouts}, unresolved {Unresolved}, "
        + $"longest write gap {LongestGapMillis} ms (from {LongestGapStartMillis} ms)"
        + (ErrorReasons.Count == 0 ? "" : "; errors: " + string.Join(", ", ErrorReasons.Select(e => $"{e.Key} ×{e.Value}")));
}

/// <summary>
/// <c>verify produce</c>: K producers send <c>producer:seq</c> payloads at a total rate for a duration with at most
/// <see cref="VerifyProduceOptions.MaxInFlight"/> sends in flight each, and log every acknowledgement.
/// </summary>
public sealed class VerifyProducer
{
    private readonly VerifyProduceOptions _options;
    private readonly ProduceSummary _summary = new();
    private readonly Stopwatch _clock = new();
    private readonly object _lock = new();

    private long _endMillis;

    public VerifyProducer(VerifyProduceOptions options)
    {
        _options = options;
        _endMillis = (long)options.Duration.TotalMilliseconds;
    }

    /// <summary>
    /// Moves the end of the sending window to <paramref name="millis"/> (never before the configured duration):
    /// <see cref="long.MaxValue"/> while a fault is being injected and healed, then a little past the heal, so that
    /// writes go on until the table can tell whether they resume.
    /// </summary>
    public void SetEnd(long millis) =>
        Interlocked.Exchange(ref _endMillis, Math.Max(millis, (long)_options.Duration.TotalMilliseconds));

    /// <summary>Milliseconds since the first send (for placing a fault in the same time line).</summary>
    public long NowMillis => _clock.ElapsedMilliseconds;

    /// <summary>
    /// Runs the phase; producer creation failures are thrown, send failures are counted. <paramref name="attached"/>
    /// runs once every producer is attached (the topic exists), before the first send.
    /// </summary>
    public async Task<ProduceSummary> RunAsync(PulsarishClient client, AckLog.Writer log, Func<Task>? attached, CancellationToken ct)
    {
        var producers = new List<(Producer Producer, string Name)>();
        try
        {
            for (int i = 0; i < _options.Producers; i++)
            {
                string name = $"{_options.Prefix}-{i}";
                var producer = await client.CreateProducerAsync(new ProducerOptions
                {
                    Topic = _options.Topic, ProducerName = name, BatchingEnabled = _options.Batching,
                    MaxPendingMessages = Math.Max(_options.MaxInFlight, 1),
                    // The SDK fails a send without receipt after this (Timeout): counted, its outcome unknown.
                    SendTimeout = _options.SendTimeout,
                }, ct);
                producers.Add((producer, name));
            }
            if (attached is not null) await attached();
            _clock.Start();
            var loops = producers.Select(p => Task.Run(() => LoopAsync(p.Producer, p.Name, log, ct), CancellationToken.None)).ToArray();
            await Task.WhenAll(loops);
        }
        finally
        {
            foreach (var (producer, _) in producers)
            {
                try
                {
                    await producer.DisposeAsync();
                }
                catch (Exception)
                {
                    // Closing a producer of an unhealthy cluster may fail; its sends are already accounted for.
                }
            }
            log.Flush();
        }
        ComputeGaps();
        return _summary;
    }

    private async Task LoopAsync(Producer producer, string name, AckLog.Writer log, CancellationToken ct)
    {
        double rate = Math.Max(_options.Rate, 1) / (double)_options.Producers;
        using var slots = new SemaphoreSlim(_options.MaxInFlight, _options.MaxInFlight);
        var outstanding = new List<Task>();
        long seq = 0;
        try
        {
            while (!ct.IsCancellationRequested && _clock.ElapsedMilliseconds < Interlocked.Read(ref _endMillis))
            {
                double due = _clock.Elapsed.TotalSeconds * rate;
                if (seq >= due)
                {
                    await Task.Delay(TimeSpan.FromMilliseconds(Math.Max(1, (seq + 1 - due) / rate * 1000)), ct);
                    continue;
                }
                // Bounded in flight: a stalled cluster stalls the loop instead of queueing without end.
                if (!await slots.WaitAsync(TimeSpan.FromMilliseconds(200), ct)) continue;
                var payload = VerifyChecker.Payload(name, seq, _options.PayloadBytes);
                Interlocked.Increment(ref _summary.Attempted);
                outstanding.Add(SendAsync(producer, name, seq, payload, slots, log));
                seq++;
                if (outstanding.Count > 4 * _options.MaxInFlight) outstanding.RemoveAll(t => t.IsCompleted);
            }
        }
        catch (OperationCanceledException)
        {
            // Stopped.
        }
        finally
        {
            // Every send gets its outcome (or its timeout) before the producer closes.
            var drain = Task.WhenAll(outstanding);
            try
            {
                await drain.WaitAsync(_options.SendTimeout + TimeSpan.FromSeconds(10));
            }
            catch (TimeoutException)
            {
                Interlocked.Add(ref _summary.Unresolved, outstanding.Count(t => !t.IsCompleted));
            }
            log.Sent(name, seq);
        }
    }

    private async Task SendAsync(Producer producer, string name, long seq, byte[] payload, SemaphoreSlim slots, AckLog.Writer log)
    {
        long sentAt = _clock.ElapsedMilliseconds;
        bool released = false;
        try
        {
            var send = producer.SendAsync(payload);
            MessageId id;
            try
            {
                id = await send.WaitAsync(_options.SendTimeout);
            }
            catch (TimeoutException)
            {
                Interlocked.Increment(ref _summary.Timeouts);
                slots.Release();
                released = true;
                id = await send; // a late receipt still counts as acknowledged
            }
            long ackedAt = _clock.ElapsedMilliseconds;
            log.Ack(name, seq, id, ackedAt);
            lock (_lock)
            {
                _summary.Acked++;
                _summary.AckTimes.Add((sentAt, ackedAt));
            }
        }
        catch (Exception e)
        {
            string reason = e is PulsarishClientException p ? p.ErrorReason.ToString() : e.GetType().Name;
            lock (_lock)
            {
                _summary.Errors++;
                _summary.ErrorReasons[reason] = _summary.ErrorReasons.GetValueOrDefault(reason) + 1;
            }
        }
        finally
        {
            if (!released) slots.Release();
        }
    }

    /// <summary>Longest time without an acknowledgement between the first send and the end of the sending window.</summary>
    private void ComputeGaps()
    {
        var acks = _summary.AckTimes.Select(a => a.AckedMillis).Order().ToList();
        long end = Math.Min(_clock.ElapsedMilliseconds, Interlocked.Read(ref _endMillis));
        long previous = 0;
        foreach (long t in acks.Append(Math.Max(end, acks.Count > 0 ? acks[^1] : 0)))
        {
            if (t - previous > _summary.LongestGapMillis)
            {
                _summary.LongestGapMillis = t - previous;
                _summary.LongestGapStartMillis = previous;
            }
            previous = t;
        }
    }
}
