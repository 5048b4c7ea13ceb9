namespace Pulsarish.Client;

/// <summary>How a producer shares its topic with others (Pulsar's <c>ProducerAccessMode</c>).</summary>
public enum ProducerAccessMode
{
    /// <summary>Any number of producers may publish (default).</summary>
    Shared = 0,

    /// <summary>Only this producer; creating it fails with <see cref="ErrorReason.ProducerBusy"/> while another is attached.</summary>
    Exclusive = 1,

    /// <summary>
    /// Only this producer; creating it waits (no operation timeout, only the caller's cancellation) until the
    /// producers attached now have gone, then it becomes the exclusive producer.
    /// </summary>
    WaitForExclusive = 2,

    /// <summary>
    /// Only this producer, at once: every other producer of the topic is fenced — its pending and later sends fail
    /// with <see cref="ErrorReason.ProducerFenced"/> and it does not reconnect.
    /// </summary>
    ExclusiveWithFencing = 3,
}
