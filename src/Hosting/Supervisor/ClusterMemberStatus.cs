namespace Pulsarish.Hosting.Supervisor;

/// <summary>One member in cluster.json.</summary>
public sealed record ClusterMemberStatus(
    string Name, string Role, string Address, int? Pid, ChildState State, bool Ready, int Restarts, string LogFile);
