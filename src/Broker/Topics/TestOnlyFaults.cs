#if DEBUG
namespace Pulsarish.Broker.Topics;

/// <summary>
/// A deliberately broken broker, only in builds with the invariant checks (DEBUG, <c>-p:CheckInvariants=true</c>,
/// never a release build): with <c>PULSARISH_TEST_ACK_WITHOUT_WRITE_EVERY=N</c> every N-th send is acknowledged
/// without being written. It exists so that a test proves <c>pulsarish verify check</c> catches lost messages.
/// </summary>
internal static class TestOnlyFaults
{
    public const string AckWithoutWriteVariable = "PULSARISH_TEST_ACK_WITHOUT_WRITE_EVERY";

    private static readonly long AckWithoutWriteEvery = ReadEvery();

    private static long _sends;

    /// <summary>True for every N-th send when the variable is set.</summary>
    public static bool AcknowledgeWithoutWriting() =>
        AckWithoutWriteEvery > 0 && Interlocked.Increment(ref _sends) % AckWithoutWriteEvery == 0;

    private static long ReadEvery()
    {
        if (!long.TryParse(Environment.GetEnvironmentVariable(AckWithoutWriteVariable), out long every) || every <= 0) return 0;
        Console.Error.WriteLine($"TEST-ONLY BROKEN BROKER: every {every}th send is acknowledged without being written ({AckWithoutWriteVariable})");
        return every;
    }
}
#endif
