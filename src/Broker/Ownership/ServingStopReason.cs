namespace Pulsarish.Broker.Ownership;

/// <summary>Why a broker must stop serving every topic at once (DESIGN.md §7).</summary>
public enum ServingStopReason
{
    /// <summary>
    /// The metadata connection dropped. The session may expire on the server before we hear of it (the client notices
    /// a silent server after 2/3 of the session timeout), so serving stops now, before anyone else can acquire.
    /// </summary>
    ConnectionLost,

    /// <summary>The session expired: every ownership record of this broker is gone.</summary>
    SessionLost,

    /// <summary>The service is shutting down.</summary>
    Closing,
}
