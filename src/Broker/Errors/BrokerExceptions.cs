using Pulsarish.Protocol.Errors;
using Pulsarish.Protocol.Broker;

namespace Pulsarish.Broker.Errors;

/// <summary>
/// Base of the broker's typed errors. <see cref="PulsarishException.Reason"/> is always the C# name of an
/// <see cref="ErrorReason"/> value of proto/broker.proto, so the service layer maps every error in one place
/// (<see cref="BrokerErrorReasons.Of"/>).
/// </summary>
public class BrokerException(ErrorReason reason, string message, Exception? inner = null)
    : PulsarishException(reason.ToString(), message, inner)
{
    /// <summary>The wire reason.</summary>
    public ErrorReason ErrorReason { get; } = reason;
}

/// <summary>The topic does not exist and may not be created automatically.</summary>
public sealed class TopicNotFoundException(string topic)
    : BrokerException(ErrorReason.TopicNotFound, $"topic {EchoedName.Of(topic)} not found");

/// <summary>The topic name is malformed.</summary>
public sealed class InvalidTopicNameException(string topic, string detail)
    : BrokerException(ErrorReason.InvalidTopicName, $"invalid topic name '{EchoedName.Of(topic)}': {detail}");

/// <summary>The namespace does not exist.</summary>
public sealed class NamespaceNotFoundException(string name)
    : BrokerException(ErrorReason.NamespaceNotFound, $"namespace {EchoedName.Of(name)} not found");

/// <summary>The tenant does not exist.</summary>
public sealed class TenantNotFoundException(string tenant)
    : BrokerException(ErrorReason.TenantNotFound, $"tenant {EchoedName.Of(tenant)} not found");

/// <summary>Another producer holds the topic (exclusive access) or the producer name is taken.</summary>
public sealed class ProducerBusyException(string message) : BrokerException(ErrorReason.ProducerBusy, message);

/// <summary>
/// An <c>ExclusiveWithFencing</c> producer took the topic over: this producer was fenced and must not reconnect
/// (Pulsar's ProducerFencedException).
/// </summary>
public sealed class ProducerFencedException(string message) : BrokerException(ErrorReason.ProducerFenced, message);

/// <summary>An exclusive subscription already has a consumer, or the subscription has another type.</summary>
public sealed class SubscriptionBusyException(string message) : BrokerException(ErrorReason.SubscriptionBusy, message);

/// <summary>The subscription does not exist.</summary>
public sealed class SubscriptionNotFoundException(string topic, string subscription)
    : BrokerException(ErrorReason.SubscriptionNotFound, $"subscription {EchoedName.Of(subscription)} not found on {topic}");

/// <summary>An operation the current state or type does not allow (e.g. cumulative ack on Shared).</summary>
public sealed class NotAllowedException(string message) : BrokerException(ErrorReason.NotAllowed, message);

/// <summary>A message id that does not name a message of this topic.</summary>
public sealed class InvalidMessageIdException(string message) : BrokerException(ErrorReason.InvalidMessageId, message);

/// <summary>The topic is loading, closing or this broker is shutting down; the client should retry.</summary>
public sealed class ServiceNotReadyException(string message, Exception? inner = null)
    : BrokerException(ErrorReason.ServiceNotReady, message, inner);

/// <summary>The topic's managed ledger was fenced by another owner: this broker no longer serves it.</summary>
public sealed class TopicFencedException(string topic, Exception? inner = null)
    : BrokerException(ErrorReason.Fenced, $"topic {topic} is fenced (ownership lost)", inner);

/// <summary>A ledger write failed; the message was not persisted (it may be retried).</summary>
public sealed class PersistenceException(string message, Exception? inner = null)
    : BrokerException(ErrorReason.PersistenceError, message, inner);

/// <summary>The producer's pending-message limit or the broker's publish memory bound was reached.</summary>
public sealed class ProducerQueueFullException(string message) : BrokerException(ErrorReason.ProducerQueueFull, message);

/// <summary>This broker does not own the topic.</summary>
public sealed class NotOwnerException(string topic) : BrokerException(ErrorReason.NotOwner, $"this broker does not own {topic}");

/// <summary>A topics pattern that is not a valid regular expression (GetTopicsOfNamespace).</summary>
public sealed class InvalidTopicsPatternException(string message) : BrokerException(ErrorReason.InvalidTopicsPattern, message);
