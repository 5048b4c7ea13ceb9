namespace Pulsarish.Client;

/// <summary>Where a new subscription's cursor starts.</summary>
public enum SubscriptionInitialPosition
{
    /// <summary>After the last published message. Pulsar's default.</summary>
    Latest = 0,

    /// <summary>At the first retained message.</summary>
    Earliest = 1,
}
