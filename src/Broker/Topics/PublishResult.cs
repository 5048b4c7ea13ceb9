namespace Pulsarish.Broker.Topics;

/// <summary>
/// Outcome of a send: the id of the stored entry (batch index -1, batch size = messages), or
/// <see cref="IsDuplicate"/> when the sequence ids were persisted before (then <see cref="MessageId"/> is default).
/// </summary>
public readonly record struct PublishResult(MessageId MessageId, bool IsDuplicate);
