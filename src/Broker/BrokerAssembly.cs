// placeholder so the project builds; the broker arrives with its issue.
namespace Pulsarish.Broker;

/// <summary>Marker for the broker assembly.</summary>
public static class BrokerAssembly { }
