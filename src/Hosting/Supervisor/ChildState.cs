namespace Pulsarish.Hosting.Supervisor;

/// <summary>Where a supervised child is in its life cycle (reported in cluster.json).</summary>
public enum ChildState
{
    Starting,
    Running,
    BackingOff,
    Stopping,
    Stopped,
}
