namespace Pulsarish.Broker.Ownership;

/// <summary>
/// Turns the broker's running totals (messages in from producers, messages out to consumers) into the rates of a
/// <see cref="BrokerLoad"/>: each <see cref="Sample"/> reports the rates since the previous one (zero on the first),
/// so the load report published every interval carries that interval's rates.
/// </summary>
public sealed class BrokerLoadSampler
{
    private readonly Func<int> _topicCount;
    private readonly Func<double> _messagesInTotal;
    private readonly Func<double> _messagesOutTotal;
    private readonly TimeProvider _time;
    private readonly object _lock = new();
    private long _lastTimestamp;
    private double _lastIn;
    private double _lastOut;

    public BrokerLoadSampler(Func<int> topicCount, Func<double> messagesInTotal, Func<double> messagesOutTotal,
        TimeProvider? time = null)
    {
        _topicCount = topicCount;
        _messagesInTotal = messagesInTotal;
        _messagesOutTotal = messagesOutTotal;
        _time = time ?? TimeProvider.System;
        _lastTimestamp = _time.GetTimestamp();
        _lastIn = messagesInTotal();
        _lastOut = messagesOutTotal();
    }

    /// <summary>Topics loaded now, and messages per second in and out since the previous sample.</summary>
    public BrokerLoad Sample()
    {
        lock (_lock)
        {
            long now = _time.GetTimestamp();
            double seconds = _time.GetElapsedTime(_lastTimestamp, now).TotalSeconds;
            double messagesIn = _messagesInTotal();
            double messagesOut = _messagesOutTotal();
            double rateIn = seconds > 0 ? Math.Max(0, messagesIn - _lastIn) / seconds : 0;
            double rateOut = seconds > 0 ? Math.Max(0, messagesOut - _lastOut) / seconds : 0;
            _lastTimestamp = now;
            _lastIn = messagesIn;
            _lastOut = messagesOut;
            return new BrokerLoad(_topicCount(), Math.Round(rateIn, 1), Math.Round(rateOut, 1));
        }
    }
}
