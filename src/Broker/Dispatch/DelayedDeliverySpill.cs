namespace Pulsarish.Broker.Dispatch;

/// <summary>Where the delayed-delivery trackers of this broker process seal their runs.</summary>
internal static class DelayedDeliverySpill
{
    public static string Directory(BrokerOptions options) =>
        string.IsNullOrEmpty(options.DelayedDeliverySpillDirectory)
            ? Path.Combine(Path.GetTempPath(), "pulsarish-delayed", Environment.ProcessId.ToString(System.Globalization.CultureInfo.InvariantCulture))
            : options.DelayedDeliverySpillDirectory;
}
