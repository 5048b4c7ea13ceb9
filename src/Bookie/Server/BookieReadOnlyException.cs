using Pulsarish.Protocol.Errors;

namespace Pulsarish.Bookie.Server;

/// <summary>The bookie is in read-only mode (its disks are nearly full) and refuses adds.</summary>
public sealed class BookieReadOnlyException(string message) : PulsarishException("ReadOnly", message);
