namespace Pulsarish.Broker.Ownership;

/// <summary>The load figures the broker engine reports to the ownership layer (topics and message rates).</summary>
/// <param name="TopicCount">Topics loaded.</param>
/// <param name="MsgRateIn">Messages per second received.</param>
/// <param name="MsgRateOut">Messages per second dispatched.</param>
public readonly record struct BrokerLoad(int TopicCount, double MsgRateIn, double MsgRateOut);
