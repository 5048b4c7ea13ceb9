namespace Pulsarish.Client;

/// <summary>
/// Properties the consumer adds to messages it writes to a retry or dead-letter topic (the names Pulsar's
/// RetryMessageUtil uses, so tools written for Pulsar read them).
/// </summary>
public static class RetryMessageProperties
{
    /// <summary>The topic the message was first consumed from.</summary>
    public const string RealTopic = "REAL_TOPIC";

    /// <summary>The id of the message on that topic (text form of <see cref="MessageId"/>).</summary>
    public const string OriginMessageId = "ORIGIN_MESSAGE_ID";

    /// <summary>How many times the message was sent to the retry topic.</summary>
    public const string ReconsumeTimes = "RECONSUMETIMES";

    /// <summary>The delay asked for by the last reconsume, in milliseconds.</summary>
    public const string DelayTime = "DELAY_TIME";
}
