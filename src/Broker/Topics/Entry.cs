namespace Pulsarish.Broker.Topics;

/// <summary>One entry of a managed ledger: its position and stored bytes (a serialized StoredBatch). Immutable.</summary>
public readonly record struct Entry(Position Position, ReadOnlyMemory<byte> Data);
