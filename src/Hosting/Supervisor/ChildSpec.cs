namespace Pulsarish.Hosting.Supervisor;

/// <summary>How to start one cluster member.</summary>
/// <param name="Name">Unique name, e.g. <c>bookie-2</c>; names its log file.</param>
/// <param name="Role">zookeeper, bookie or broker.</param>
/// <param name="Address">host:port it serves on.</param>
/// <param name="FileName">Executable.</param>
/// <param name="Arguments">Arguments.</param>
/// <param name="SendsHeartbeats">True for pulsarish children (<see cref="SupervisedChildAgent"/>); false for ZooKeeper.</param>
/// <param name="ReadyMarker">A stdout text that says the child serves, or null.</param>
public sealed record ChildSpec(
    string Name,
    string Role,
    string Address,
    string FileName,
    IReadOnlyList<string> Arguments,
    bool SendsHeartbeats,
    string? ReadyMarker);
