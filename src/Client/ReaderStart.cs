namespace Pulsarish.Client;

/// <summary>
/// Where a reader's non-durable subscription starts: <see cref="MessageId.Earliest"/>, <see cref="MessageId.Latest"/>
/// or a message id, inclusive or not. On a reconnect the reader starts after the last message it handed out instead.
/// </summary>
internal sealed record ReaderStart(MessageId MessageId, bool Inclusive);
